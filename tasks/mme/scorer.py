"""MME scores exactly as the official ``eval_tool/calculation.py`` computes them.

* A response is lower-cased, then parsed by :func:`parse_pred_ans`: exactly ``yes``/``no`` -> itself, else only
  the **first 4 characters** are read (``yes`` inside -> yes, else ``no`` inside -> no, else ``other``).
  A trailing newline is kept (the official tool reads lines with ``readlines``), so ``"yes\\n"`` -> yes.
* Per sub-task: ``acc`` = fraction of questions right (``other`` is wrong); ``acc+`` = fraction of images with
  both questions right; score = ``100*acc + 100*acc+`` (max 200).
* Perception = sum of the 10 perception sub-tasks (max 2000); cognition = sum of the 4 cognition ones (max 800).

The official tool pairs the two questions of an image by line order; :func:`aggregate` pairs records by their
``image`` field (first-appearance order), which is the same on the official files and order-independent
elsewhere. A reader of the official files can pass a line-order key as ``image`` to reproduce the tool on
malformed files too.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "category": str (one of PERCEPTION + COGNITION), "image": str,
     "target": "yes"|"no", "response": str, "parsed": "yes"|"no"|"other", "correct": bool}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.benchmark import read_declaration

__all__ = [
    "PERCEPTION",
    "COGNITION",
    "parse_pred_ans",
    "parse_response",
    "process_result",
    "aggregate",
]

#: The sub-tasks in the official order, as declared in this folder's benchmark.yaml (their one definition).
_CATEGORY_SETS = read_declaration(Path(__file__).parent).categories
PERCEPTION: tuple[str, ...] = _CATEGORY_SETS["perception"]
COGNITION: tuple[str, ...] = _CATEGORY_SETS["cognition"]
_ALL_CATEGORIES = PERCEPTION + COGNITION


def parse_pred_ans(text: str) -> str:
    """The official ``parse_pred_ans`` on an already lower-cased answer: ``"yes"``, ``"no"`` or ``"other"``.

    It is case-sensitive (the official tool lower-cases before calling it): ``"Yes"`` -> ``"other"``.
    """
    if text in ("yes", "no"):
        return text
    prefix = text[:4]
    if "yes" in prefix:
        return "yes"
    if "no" in prefix:
        return "no"
    return "other"


def parse_response(response: str) -> str:
    """Parse a raw model response as the official tool does (lower-case, then :func:`parse_pred_ans`)."""
    return parse_pred_ans(response.lower())


def process_result(doc_id: str, category: str, image: str, target: str, response: str) -> dict:
    """Per-sample record for one MME question.

    Args:
        doc_id: stable id of the question.
        category: sub-task name as the official tool spells it (e.g. ``"OCR"``, ``"code_reasoning"``).
        image: the image the question belongs to (its two questions share it).
        target: ground truth ``Yes``/``No`` (any case).
        response: raw model response.
    """
    if category not in _ALL_CATEGORIES:
        raise DataError(f"MME question {doc_id!r}: unknown category {category!r}; expected one of "
                        f"{', '.join(_ALL_CATEGORIES)}.")
    gt = str(target).lower()
    if gt not in ("yes", "no"):
        raise DataError(f"MME question {doc_id!r}: ground truth must be yes/no, got {target!r}.")
    parsed = parse_response(response)
    return {"doc_id": str(doc_id), "category": category, "image": str(image), "target": gt,
            "response": response, "parsed": parsed, "correct": parsed == gt}


def _category_metrics(records: list[Mapping]) -> dict:
    """acc, acc+, score and the confusion counts of one sub-task (official formulas)."""
    images: dict[str, list[bool]] = {}
    for record in records:
        images.setdefault(record["image"], []).append(bool(record["correct"]))
    n_correct = sum(1 for record in records if record["correct"])
    acc = n_correct / len(records)
    acc_plus = sum(1 for flags in images.values() if all(flags)) / len(images)
    parsed = [record["parsed"] for record in records]
    targets = [record["target"] for record in records]
    tp = sum(1 for p, t in zip(parsed, targets) if p == "yes" and t == "yes")
    fp = sum(1 for p, t in zip(parsed, targets) if p == "yes" and t == "no")
    fn = sum(1 for p, t in zip(parsed, targets) if p == "no" and t == "yes")
    tn = sum(1 for p, t in zip(parsed, targets) if p == "no" and t == "no")
    return {
        "score": acc * 100 + acc_plus * 100,
        "acc": acc,
        "acc_plus": acc_plus,
        "n_questions": len(records),
        "n_images": len(images),
        "n_images_not_paired": sum(1 for flags in images.values() if len(flags) != 2),
        "other_num": parsed.count("other"),
        "TP": tp, "FN": fn, "TN": tn, "FP": fp,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
    }


def aggregate(records: Iterable[Mapping]) -> dict:
    """MME totals and every sub-task from per-sample records.

    Returns:
        ``{"perception_total", "cognition_total", "total", <category>: score for each category present,
        "categories": {category: {score, acc, acc_plus, n_questions, n_images, other_num, TP, FN, TN, FP,
        precision, recall}}, "n_samples", "missing_categories": [...]}``.
        Totals sum the sub-tasks in the official order, so they equal the tool's printout bit for bit.
    """
    by_category: dict[str, list[Mapping]] = {}
    for record in records:
        by_category.setdefault(record["category"], []).append(record)
    if not by_category:
        raise DataError("MME: no records to aggregate.")
    unknown = sorted(set(by_category) - set(_ALL_CATEGORIES))
    if unknown:
        raise DataError(f"MME: unknown categories {unknown}; expected names from {list(_ALL_CATEGORIES)}.")
    categories = {name: _category_metrics(by_category[name]) for name in _ALL_CATEGORIES if name in by_category}
    result: dict = {}
    for total_name, names in (("perception_total", PERCEPTION), ("cognition_total", COGNITION)):
        total = 0
        for name in names:
            if name in categories:
                total += categories[name]["score"]
        result[total_name] = total
    result["total"] = result["perception_total"] + result["cognition_total"]
    for name, metrics in categories.items():
        result[name] = metrics["score"]
    result["categories"] = categories
    result["n_samples"] = sum(metrics["n_questions"] for metrics in categories.values())
    result["missing_categories"] = [name for name in _ALL_CATEGORIES if name not in categories]
    return result
