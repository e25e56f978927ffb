"""LLM judges for the benchmarks whose official scoring asks a model (those declaring ``judge:``).

``build_judge("openai:gpt-4-0613")`` (or ``"paper"``, ``"azure:<deployment>"``, ``"local:<path>"``,
``"none"``) returns a cached judge with ``judge.name``, ``judge.complete(...)`` and ``judge.stats``;
``judge_report(judge)`` is what goes into results. See ``docs/judges.md``.
"""

from mg_eval.judges.base import Judge, JudgeError, for_run
from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.cache import CachedJudge, JudgeCache
from mg_eval.judges.factory import build_judge, judge_report, paper_judge_spec, paper_judges
from mg_eval.judges.openai_compat import OpenAICompatJudge
from mg_eval.judges.prefetch import prefetch, score_with_judge
from mg_eval.judges.stats import JudgeStats, TooManyUngradedError, check_ungraded

__all__ = [
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
    "paper_judges",
    "prefetch",
    "score_with_judge",
]
