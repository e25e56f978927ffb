"""POPE scores exactly as LLaVA's ``llava/eval/eval_pope.py`` computes them, one setting at a time.

* A response is reduced to its first sentence (the text before the first ``.``, when there is one), commas
  are deleted and it is split on single spaces; it reads **no** when one of the words is ``No``, ``not`` or
  ``no`` (case-sensitive, whole words), otherwise **yes** (an empty response, ``"Nope"`` or ``"NO"`` read yes).
* A label ``no`` is negative, any other label positive. With yes as the positive class: ``accuracy`` =
  (TP+TN)/N, ``precision`` = TP/(TP+FP), ``recall`` = TP/(TP+FN), ``f1`` = 2PR/(P+R), ``yes_ratio`` = the
  fraction of yes predictions. The official script raises ``ZeroDivisionError`` where a denominator is 0 (a
  model that never says yes); :func:`confusion_metrics` reports ``None`` for those metrics instead.
* The official script scores each ``coco_pope_<setting>.json`` separately and prints the five numbers as
  fractions; :func:`aggregate` gives them per setting in percent (``adversarial_f1`` ...), plus ``f1`` and
  ``accuracy``: the means over the settings present (the one-number summaries papers tabulate).

The official script pairs the answers of a setting with the labels by line order; here each record carries its
own target, which is the same on the official files.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "category": str (one of SETTINGS), "target": "yes"|"no", "response": str,
     "parsed": "yes"|"no", "correct": bool}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.benchmark import read_declaration

__all__ = ["SETTINGS", "METRICS", "parse_answer", "process_result", "confusion_metrics", "aggregate"]

#: The negative-sampling settings in the official order, as declared in this folder's benchmark.yaml.
SETTINGS: tuple[str, ...] = read_declaration(Path(__file__).parent).categories["settings"]
#: The five numbers the official script prints, in its order.
METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "yes_ratio")
_NO_WORDS = ("No", "not", "no")


def parse_answer(text: str) -> str:
    """``"yes"`` or ``"no"``: the official first-sentence / whole-word rule (see the module docstring)."""
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if any(word in words for word in _NO_WORDS) else "yes"


def process_result(doc_id: str, category: str, target: str, response: str) -> dict:
    """Per-sample record for one POPE question.

    Args:
        doc_id: stable id of the question.
        category: its setting (``adversarial``, ``popular`` or ``random``).
        target: the label, ``yes``/``no`` (any case).
        response: raw model response.

    Raises:
        DataError: an unknown setting or a label other than yes/no.
    """
    if category not in SETTINGS:
        raise DataError(f"POPE question {doc_id!r}: unknown category {category!r}; expected one of "
                        f"{', '.join(SETTINGS)}.")
    label = str(target).strip().lower()
    if label not in ("yes", "no"):
        raise DataError(f"POPE question {doc_id!r}: the label must be yes/no, got {target!r}.")
    parsed = parse_answer(response)
    return {"doc_id": doc_id, "category": category, "target": label, "response": response,
            "parsed": parsed, "correct": parsed == label}


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def confusion_metrics(predictions: Sequence[str], labels: Sequence[str]) -> dict:
    """The official numbers of one setting, as fractions, from parsed predictions and labels (``yes``/``no``).

    Returns:
        ``{"accuracy", "precision", "recall", "f1", "yes_ratio", "tp", "fp", "tn", "fn", "n"}``; a metric
        whose official denominator is 0 is ``None`` (the official script raises there).
    """
    pred = [p != "no" for p in predictions]
    gold = [g != "no" for g in labels]
    tp = sum(p and g for p, g in zip(pred, gold))
    fp = sum(p and not g for p, g in zip(pred, gold))
    tn = sum(not p and not g for p, g in zip(pred, gold))
    fn = sum(not p and g for p, g in zip(pred, gold))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = None
    if precision is not None and recall is not None and precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    return {"accuracy": _ratio(tp + tn, tp + tn + fp + fn), "precision": precision, "recall": recall, "f1": f1,
            "yes_ratio": _ratio(sum(pred), len(pred)), "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": len(pred)}


def _percent(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _mean(values: Iterable[float | None]) -> float | None:
    values = list(values)
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def aggregate(records: Iterable[Mapping]) -> dict:
    """Every official number per setting (percent), their means over the settings present, and the counts.

    Returns:
        ``{"f1", "accuracy", "<setting>_<metric>" for metric in METRICS, "<setting>_n", "<setting>_confusion":
        {"tp", "fp", "tn", "fn"}}`` for each setting present; ``f1``/``accuracy`` are ``None`` when one
        setting's value is.
    """
    by_setting: dict[str, list[Mapping]] = {}
    for record in records:
        by_setting.setdefault(record["category"], []).append(record)
    if not by_setting:
        raise DataError("POPE: no records to score.")
    scores: dict = {}
    for setting in (s for s in SETTINGS if s in by_setting):
        group = by_setting[setting]
        numbers = confusion_metrics([r["parsed"] for r in group], [r["target"] for r in group])
        for metric in METRICS:
            scores[f"{setting}_{metric}"] = _percent(numbers[metric])
        scores[f"{setting}_n"] = numbers["n"]
        scores[f"{setting}_confusion"] = {key: numbers[key] for key in ("tp", "fp", "tn", "fn")}
    present = [s for s in SETTINGS if s in by_setting]
    scores["f1"] = _mean(scores[f"{s}_f1"] for s in present)
    scores["accuracy"] = _mean(scores[f"{s}_accuracy"] for s in present)
    return scores
