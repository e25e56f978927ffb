"""OCRBench scores as VLMEvalKit scores it (``vlmeval/dataset/image_vqa.py``, ``OCRBench.evaluate``).

* A question is a hit when one of its answers is a substring of the prediction (``str(prediction)``):
  for ``Handwritten Mathematical Expression Recognition`` both sides are stripped, newlines turned into
  spaces and then every space removed (case kept); for the other 9 categories both sides are lower-cased,
  stripped and newlines turned into spaces. The answers are tried in order; the first hit counts once.
* ``final_score`` = hits (out of 1,000 on the full set); the 10 category counts and the 5 components
  (Text Recognition = the 6 recognition categories) as VLMEvalKit's ``final_score_dict``; ``accuracy`` =
  100 x hits / questions (VLMEvalKit's ``Final Score Norm`` = Final Score / 10 on the
  1,000 questions, the number the OpenVLM leaderboard averages; here over the questions scored).

lmms-eval (``lmms_eval/tasks/ocrbench/utils.py``) keys the same rules on the source dataset (``HME100k``),
strips the response first and folds full-width ASCII; VLMEvalKit does neither.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "index": int, "category": str, "answers": [str, ...], "prediction": str, "hit": 0 | 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.benchmark import read_declaration

__all__ = ["CATEGORIES", "COMPONENTS", "MATH_EXPRESSION", "is_hit", "process_result", "aggregate"]

_DECLARED = read_declaration(Path(__file__).parent).categories
#: The 10 question categories in the official order (benchmark.yaml).
CATEGORIES: tuple[str, ...] = _DECLARED["categories"]
#: The 5 reported components and the categories each adds up.
COMPONENTS: dict[str, tuple[str, ...]] = {name: _DECLARED[name] for name in _DECLARED["components"]}
#: The category scored with spaces removed and case kept.
MATH_EXPRESSION = "Handwritten Mathematical Expression Recognition"


def _squeeze(text: str) -> str:
    return text.strip().replace("\n", " ").replace(" ", "")


def _fold(text: str) -> str:
    return text.lower().strip().replace("\n", " ")


def is_hit(prediction: str, answers: Sequence[str], category: str) -> bool:
    """Whether one of ``answers`` is inside ``prediction`` under the category's normalisation."""
    normalise = _squeeze if category == MATH_EXPRESSION else _fold
    predicted = normalise(prediction)
    return any(normalise(answer) in predicted for answer in answers)


def process_result(doc_id: str, index: int, category: str, answers: Sequence[str], prediction) -> dict:
    """Per-sample record for one question (the match is done here).

    Raises:
        DataError: an unknown category or an empty answer list.
    """
    if category not in CATEGORIES:
        raise DataError(f"OCRBench question {index}: unknown category {category!r}; expected one of "
                        f"tasks/ocrbench/benchmark.yaml's categories.")
    answers = [str(answer) for answer in answers]
    if not answers:
        raise DataError(f"OCRBench question {index}: no answers.")
    prediction = str(prediction)
    return {"doc_id": str(doc_id), "index": int(index), "category": category, "answers": answers,
            "prediction": prediction, "hit": int(is_hit(prediction, answers, category))}


def aggregate(records: Iterable[Mapping]) -> dict:
    """Hits per category and component, ``final_score`` and ``accuracy`` (percent).

    Returns:
        ``{"final_score", "accuracy", "component": {name: hits}, "category": {name: hits},
        "n_questions", "per_sample": {doc_id: 0 | 1}}``
    """
    rows = list(records)
    if not rows:
        raise DataError("OCRBench: no records to aggregate.")
    category = {name: 0 for name in CATEGORIES}
    for row in rows:
        category[row["category"]] += row["hit"]
    component = {name: sum(category[c] for c in members) for name, members in COMPONENTS.items()}
    final = sum(component.values())
    return {"final_score": final, "accuracy": 100.0 * final / len(rows), "component": component,
            "category": category, "n_questions": len(rows),
            "per_sample": {row["doc_id"]: row["hit"] for row in rows}}
