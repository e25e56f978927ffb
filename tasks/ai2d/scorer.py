"""AI2D (test) scores as VLMEvalKit scores ``AI2D_TEST`` (``ImageMCQDataset.evaluate`` -> ``mcq_vanilla_eval``,
``report_acc``): the same path as MMStar, so the matching, the judge step and the report are MMStar's
(``tasks/mmstar/scorer.py``: ``can_infer``, the judge only for rows the rules cannot match, exact matching
without a judge). Only the record differs: AI2D rows carry 2-4 options in the ``A``-``D`` columns and a
``category`` (the diagram topic, e.g. ``foodChainsWebs``) but no ``l2-category``.

Per-sample record: MMStar's (``doc_id, index, question, options, prediction, answer, category, l2_category
(None), prefetch``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mg_eval.errors import DataError

from ..mmstar import scorer as mcq

__all__ = ["OPTION_LETTERS", "options_of", "process_result", "aggregate"]

OPTION_LETTERS = ("A", "B", "C", "D")


def options_of(row: Mapping) -> dict[str, str]:
    """``{"A": text, ...}``: the option columns present (VLMEvalKit ``build_choices``: a missing cell is no option)."""
    return {letter: str(row[letter]) for letter in OPTION_LETTERS if row.get(letter) is not None}


def process_result(doc_id: str, index: int, question: str, options: Mapping[str, str], prediction, answer: str,
                   category: str | None) -> dict:
    """Per-sample record for one AI2D question; runs the rule matching.

    Raises:
        DataError: an answer that is not one of the options.
    """
    if answer not in options:
        raise DataError(f"AI2D question {index}: answer {answer!r} is not one of the options {sorted(options)}.")
    prediction = str(prediction)
    return {"doc_id": str(doc_id), "index": int(index), "question": str(question), "options": dict(options),
            "prediction": prediction, "answer": answer, "category": category, "l2_category": None,
            "prefetch": mcq.can_infer(prediction, options)}


def aggregate(records: Iterable[Mapping], judge=None) -> dict:
    """``accuracy`` (percent) and per ``category``, as MMStar's :func:`aggregate` (``l2_category`` is empty)."""
    scores = mcq.aggregate(records, judge=judge)
    scores.pop("l2_category")
    return scores
