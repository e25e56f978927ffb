"""MM-Vet grading and aggregation exactly as the official ``mm-vet_evaluator.py``.

Grading (LLM, official defaults gpt-4-0613, ``max_tokens=3``): the message is :data:`GRADER_PROMPT` (few-shot
table, ending in a newline), a newline, then ``question | ground truth | prediction | `` (``<AND>``/``<OR>``
padded with spaces; the trailing ``| `` is part of it). The first space-separated token of the reply must be
a float in [0, 1]. If not, the message gets the suffix ``\\nPredict the correctness of the answer (digit): ``
and is re-sent; calls run at temperatures 0.0, 0.0, 0.5, 1.0, 1.5, 2.0 and after 5 unparsable replies the
score is 0.0 (the official behaviour; counted in ``n_unparsable``).

Aggregation per run: capability score = sum of the scores of the samples having it / their number x100;
total = sum / number of samples x100; capability-integration score likewise per exact capability set.
Reported = mean over runs rounded (numpy rounding) to ``decimal_places`` (1); ``std`` = population std of the
per-run totals; ``runs`` = the per-run totals.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str ("v1_<i>"), "question": str, "answer": str (ground truth), "prediction": str,
     "capability": [str], "grades": [float]  (earlier runs' scores, e.g. from an official grade file)}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mg_eval.errors import DataError, JudgeError
from mg_eval.judges.base import for_run

__all__ = [
    "GRADER_PROMPT",
    "GRADER_MAX_TOKENS",
    "RETRY_SUFFIX",
    "build_grader_prompt",
    "parse_grade",
    "Grade",
    "grade_sample",
    "process_result",
    "aggregate",
]

GRADER_MAX_TOKENS = 3
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
MAX_TRIES = 5

_MEME_GT = ("This meme is poking fun at the fact that the names of the countries Iceland and Greenland are "
            "misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland "
            "is mostly covered in ice and snow. The meme is saying that the person has trust issues because the "
            "names of these countries do not accurately represent their landscapes.")
_MEME_SHORT = ("The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland "
               "is not very icy and Greenland isn't very green.")
_MEME_LONG = ("The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. "
              "Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and "
              "snow. The text 'This is why I have trust issues' is a playful way to suggest that these "
              "contradictions can lead to distrust or confusion. The humor in this meme is derived from the "
              "unexpected contrast between the names of the countries and their actual physical "
              "characteristics.")
_EQUATION = "What is x in the equation? | -1 <AND> -5 | "

#: The official grader prompt (``prompt`` in mm-vet_evaluator.py), ending with a newline.
GRADER_PROMPT = (
    "Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. "
    "<AND> in the ground truth means it is totally right only when all elements in the ground truth are present "
    "in the prediction, and <OR> means it is totally right when any one element in the ground truth is present "
    "in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, "
    "0.9, or 1.0 (totally right). Just complete the last space of the correctness score.\n"
    "\n"
    "Question | Ground truth | Prediction | Correctness\n"
    "--- | --- | --- | ---\n"
    f"{_EQUATION}x = 3 | 0.0\n"
    f"{_EQUATION}x = -1 | 0.5\n"
    f"{_EQUATION}x = -5 | 0.5\n"
    f"{_EQUATION}x = -5 or 5 | 0.5\n"
    f"{_EQUATION}x = -1 or x = -5 | 1.0\n"
    f"Can you explain this meme? | {_MEME_GT} | {_MEME_SHORT} | 0.4\n"
    f"Can you explain this meme? | {_MEME_GT} | {_MEME_LONG} | 1.0\n"
)


def build_grader_prompt(question: str, answer: str, prediction: str, *, retry: bool = False) -> str:
    """The official grading message for one sample (``retry`` adds the digit request of later tries)."""
    gt = answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")
    message = GRADER_PROMPT + "\n" + " | ".join([question, gt, prediction, ""])
    return message + RETRY_SUFFIX if retry else message


def parse_grade(content: str) -> float | None:
    """Official parse: the first space-separated token as a float in [0, 1], else ``None``."""
    try:
        score = float(content.split(" ")[0].strip())
    except ValueError:
        return None
    return score if 0.0 <= score <= 1.0 else None


@dataclass(frozen=True)
class Grade:
    """One grading run of one sample: ``score`` in [0, 1], the judge's last reply, the calls it took."""

    score: float
    content: str
    n_calls: int
    parsed: bool


def grade_sample(judge, question: str, answer: str, prediction: str) -> Grade:
    """Grade one prediction with the official retry schedule (temperatures 0, 0, 0.5, 1.0, 1.5, 2.0).

    Raises:
        JudgeError: the judge could not answer.
    """
    content = judge.complete(build_grader_prompt(question, answer, prediction),
                             max_tokens=GRADER_MAX_TOKENS, temperature=0.0)
    retry_prompt = build_grader_prompt(question, answer, prediction, retry=True)
    temperature, tries = 0.0, 1
    while True:
        score = parse_grade(content)
        if score is not None:
            return Grade(score, content, tries, True)
        content = judge.complete(retry_prompt, max_tokens=GRADER_MAX_TOKENS, temperature=temperature)
        tries += 1
        temperature += 0.5
        if tries > MAX_TRIES:
            return Grade(0.0, content, tries, False)


def process_result(
    doc_id: str,
    prediction: str,
    question: str,
    answer: str,
    capability: Sequence[str] | str,
    grades: Sequence[float] = (),
) -> dict:
    """Per-sample record for one MM-Vet question (grading happens in :func:`aggregate`).

    ``capability`` is a list (``mm-vet.json``) or the comma-separated string of the HF dataset.
    """
    caps = [c.strip() for c in capability.split(",")] if isinstance(capability, str) else list(capability)
    if not caps:
        raise DataError(f"MM-Vet question {doc_id!r}: empty 'capability'.")
    return {"doc_id": str(doc_id), "question": question, "answer": answer, "prediction": prediction,
            "capability": caps, "grades": [float(g) for g in grades]}


def _grade_all(records: list[Mapping], judge, num_runs: int) -> tuple[list[list[float] | None], dict]:
    """Scores of every record for ``num_runs`` runs (existing grades reused); ``None`` = ungraded.

    Run ``r`` (0-based) grades through ``for_run(judge, r)`` so cached answers are not shared between runs.
    """
    stats = {"n_judge_calls": 0, "n_unparsable": 0, "n_judge_errors": 0}
    all_scores: list[list[float] | None] = []
    for record in records:
        scores = list(record.get("grades") or [])[:num_runs]
        while len(scores) < num_runs and judge is not None:
            try:
                grade = grade_sample(for_run(judge, len(scores)), record["question"], record["answer"], record["prediction"])
            except JudgeError:
                stats["n_judge_errors"] += 1
                break
            stats["n_judge_calls"] += grade.n_calls
            stats["n_unparsable"] += not grade.parsed
            scores.append(grade.score)
        all_scores.append(scores if len(scores) == num_runs else None)
    return all_scores, stats


def _round(value: float, decimal_places: int) -> float:
    return float(np.round(np.float64(value), decimal_places))


def aggregate(records: Iterable[Mapping], judge=None, num_runs: int = 1, decimal_places: int = 1) -> dict:
    """MM-Vet total, per-capability and per-integration scores, grading with ``judge`` what is not graded.

    Samples still without ``num_runs`` grades (no judge, or the judge failed) are counted in ``n_ungraded``
    and left out of every score.

    Returns:
        ``{"total", "std", "runs": [per-run totals], "capabilities": {cap: score},
        "integrations": {"cap1_cap2" (sorted): score}, "n_samples", "n_graded", "n_ungraded",
        "num_runs", "n_judge_calls", "n_unparsable", "n_judge_errors",
        "per_sample": {doc_id: [score per run] | None}}`` (``per_sample`` is detail for samples files).
    """
    records = list(records)
    if not records:
        raise DataError("MM-Vet: no records to aggregate.")
    if num_runs < 1:
        raise DataError(f"MM-Vet: num_runs must be >= 1, got {num_runs}.")
    all_scores, stats = _grade_all(records, judge, num_runs)
    graded = [(record, scores) for record, scores in zip(records, all_scores) if scores is not None]
    cap_sums: dict[str, np.ndarray] = {}
    cap_counts: dict[str, int] = {}
    set_sums: dict[str, np.ndarray] = {}
    set_counts: dict[str, int] = {}
    total = np.zeros(num_runs)
    for record, scores in graded:
        caps = set(record["capability"])
        set_name = "_".join(sorted(caps))
        for cap in caps:
            cap_sums.setdefault(cap, np.zeros(num_runs))
            cap_sums[cap] += scores
            cap_counts[cap] = cap_counts.get(cap, 0) + 1
        set_sums.setdefault(set_name, np.zeros(num_runs))
        set_sums[set_name] += scores
        set_counts[set_name] = set_counts.get(set_name, 0) + 1
        total += scores
    per_run_total = total / len(graded) * 100 if graded else None
    capabilities = {cap: _round((cap_sums[cap] / cap_counts[cap] * 100).mean(), decimal_places)
                    for cap in sorted(cap_sums, key=lambda c: -cap_counts[c])}
    integrations = {name: _round(np.mean(set_sums[name] / set_counts[name] * 100), decimal_places)
                    for name in sorted(set_sums, key=lambda n: -set_counts[n])}
    return {
        "total": _round(per_run_total.mean(), decimal_places) if graded else None,
        "std": _round(per_run_total.std(), decimal_places) if graded else None,
        "runs": [float(x) for x in np.round(per_run_total, decimal_places)] if graded else [],
        "capabilities": capabilities,
        "integrations": integrations,
        "n_samples": len(records),
        "n_graded": len(graded),
        "n_ungraded": len(records) - len(graded),
        "num_runs": num_runs,
        **stats,
        "per_sample": {record["doc_id"]: scores for record, scores in zip(records, all_scores)},
    }
