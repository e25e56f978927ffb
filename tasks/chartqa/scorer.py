"""ChartQA relaxed accuracy exactly as the official metric (lmms-eval ``chartqa/utils.py``, from Qwen-VL's
``evaluate_vqa.py``; paper: Masry et al. 2022, end of section 5.1) computes it.

* :func:`relaxed_correctness`: both strings are read as numbers (``float(text)``; a trailing ``%`` divides by
  100; anything ``float`` refuses, e.g. ``1,200``, is not a number). When the prediction is a number and the
  target a non-zero number, the prediction is right if ``|pred - target| / |target| <= 0.05``; otherwise the
  two strings must be equal ignoring case (the function strips nothing; lmms-eval strips the generated answer
  before it, as our generators do).
* ``relaxed_overall`` = mean over all questions; ``relaxed_human_split`` / ``relaxed_augmented_split`` = the
  mean over the ``human_test`` / ``augmented_test`` questions (lmms-eval's ``mean`` over the samples that
  report each key). Reported in percent (the lmms-eval table shows fractions).

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "type": "human_test" | "augmented_test" | None, "prediction": str, "answer": str, "hit": 0 | 1}

``type`` ``None`` (a prediction table without the subset column) counts in ``relaxed_overall`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mg_eval.errors import DataError

__all__ = ["MAX_RELATIVE_CHANGE", "SPLITS", "relaxed_correctness", "process_result", "aggregate"]

MAX_RELATIVE_CHANGE = 0.05
#: The two test subsets (hub ``type`` values) -> score key.
SPLITS = {"human_test": "relaxed_human_split", "augmented_test": "relaxed_augmented_split"}


def _to_float(text: str) -> float | None:
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def relaxed_correctness(prediction: str, target: str, max_relative_change: float = MAX_RELATIVE_CHANGE) -> bool:
    """Right within 5 % for a numeric target (non-zero), else a case-insensitive exact match."""
    prediction_float, target_float = _to_float(prediction), _to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def process_result(doc_id: str, split_type: str | None, prediction: str, answer: str) -> dict:
    """Per-sample record for one question.

    Raises:
        DataError: a ``type`` that is neither ``human_test`` nor ``augmented_test`` (nor ``None``: unknown).
    """
    if split_type is not None and split_type not in SPLITS:
        raise DataError(f"ChartQA question {doc_id}: type {split_type!r} is not one of {sorted(SPLITS)}.")
    prediction, answer = str(prediction), str(answer)
    return {"doc_id": str(doc_id), "type": split_type, "prediction": prediction, "answer": answer,
            "hit": int(relaxed_correctness(prediction, answer))}


def aggregate(records: Iterable[Mapping]) -> dict:
    """``relaxed_overall`` and the two subset scores (percent; ``None`` for a subset with no question).

    Returns:
        ``{"relaxed_overall", "relaxed_human_split", "relaxed_augmented_split", "n_questions", "n_human",
        "n_augmented", "per_sample": {doc_id: 0 | 1}}``.
    """
    records = list(records)
    if not records:
        raise DataError("ChartQA: no records to aggregate.")
    scores: dict = {"relaxed_overall": 100.0 * sum(r["hit"] for r in records) / len(records)}
    for split_type, key in SPLITS.items():
        hits = [r["hit"] for r in records if r["type"] == split_type]
        scores[key] = 100.0 * sum(hits) / len(hits) if hits else None
    return {**scores, "n_questions": len(records),
            "n_human": sum(r["type"] == "human_test" for r in records),
            "n_augmented": sum(r["type"] == "augmented_test" for r in records),
            "per_sample": {r["doc_id"]: r["hit"] for r in records}}
