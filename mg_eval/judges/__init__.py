"""LLM judges for the benchmarks whose official scoring asks a model (MM-Vet, MathVista, MMBench).

``build_judge("openai:gpt-4-0613")`` (or ``"paper"``, ``"azure:<deployment>"``, ``"local:<path>"``,
``"none"``) returns a cached judge with ``judge.name``, ``judge.complete(...)`` and ``judge.stats``;
``judge_report(judge)`` is what goes into results. See ``docs/judges.md``.
"""

from mg_eval.judges.base import Judge, JudgeError, for_run
from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.cache import CachedJudge, JudgeCache
from mg_eval.judges.factory import PAPER_JUDGES, build_judge, judge_report, paper_judge_spec
from mg_eval.judges.openai_compat import OpenAICompatJudge
from mg_eval.judges.prefetch import prefetch, score_with_judge
from mg_eval.judges.stats import JudgeStats, TooManyUngradedError, check_ungraded

__all__ = [
    "PAPER_JUDGES",
    "CachedJudge",
    "Judge",
    "JudgeCache",
    "JudgeError",
    "JudgeRequest",
    "JudgeStats",
    "OpenAICompatJudge",
    "TooManyUngradedError",
    "build_judge",
    "check_ungraded",
    "complete_many",
    "for_run",
    "judge_report",
    "paper_judge_spec",
    "prefetch",
    "score_with_judge",
]
