"""DocVQA ANLS exactly as the official metric (lmms-eval ``api/metrics.py`` ``anls``, from Qwen-VL's
``infographicsvqa_eval.py``; the DocVQA challenge's Average Normalized Levenshtein Similarity) computes it.

* Per reference answer: both strings are stripped, lower-cased and their whitespace runs joined by one space;
  the normalised Levenshtein distance is ``distance / max(len(answer.upper()), len(prediction.upper()))``
  (lengths of the **raw** strings, as the official code takes them; ``0`` when both are empty).
* A question scores ``1 - min(distances)``, set to ``0`` when below the threshold ``0.5``.
* ``anls`` = mean over questions, in percent (lmms-eval shows the fraction).

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "question_id": int | str, "prediction": str, "answers": [str], "anls": float}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mg_eval.errors import DataError

__all__ = ["THRESHOLD", "levenshtein_distance", "anls_score", "process_result", "aggregate"]

THRESHOLD = 0.5


def levenshtein_distance(first: str, second: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if len(first) > len(second):
        first, second = second, first
    previous = list(range(len(first) + 1))
    for j, char in enumerate(second, start=1):
        current = [j]
        for i, other in enumerate(first, start=1):
            current.append(min(previous[i] + 1, current[i - 1] + 1, previous[i - 1] + (char != other)))
        previous = current
    return previous[-1]


def _normalise(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls_score(prediction: str, answers: Sequence[str], threshold: float = THRESHOLD) -> float:
    """The question's ANLS in [0, 1] against every reference answer."""
    values = []
    for answer in answers:
        distance = levenshtein_distance(_normalise(answer), _normalise(prediction))
        length = max(len(answer.upper()), len(prediction.upper()))
        values.append(0.0 if length == 0 else float(distance) / float(length))
    score = 1 - min(values)
    return 0 if score < threshold else score


def process_result(doc_id: str, question_id, prediction: str, answers: Sequence[str]) -> dict:
    """Per-sample record for one question.

    Raises:
        DataError: no reference answer (a test-split question is scored by the server, not here).
    """
    answers = [str(answer) for answer in answers or ()]
    if not answers:
        raise DataError(f"DocVQA question {question_id}: no reference answers; the test split is scored by the "
                        "server (task docvqa_test, mg-eval export).")
    prediction = str(prediction)
    return {"doc_id": str(doc_id), "question_id": question_id, "prediction": prediction, "answers": answers,
            "anls": anls_score(prediction, answers)}


def aggregate(records: Iterable[Mapping]) -> dict:
    """``{"anls" (percent), "n_questions", "per_sample": {doc_id: anls}}``."""
    records = list(records)
    if not records:
        raise DataError("DocVQA: no records to aggregate.")
    return {"anls": 100.0 * sum(r["anls"] for r in records) / len(records), "n_questions": len(records),
            "per_sample": {r["doc_id"]: r["anls"] for r in records}}
