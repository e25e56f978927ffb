"""MMStar official file: ``MMStar.tsv`` (VLMEvalKit format, also in the ``Lin-Chen/MMStar`` hub repository).

Columns ``index, question, answer, category, l2-category (or l2_category), image`` (base64) and, where the
question does not carry them inline, the option columns ``A``-``D``. Rows follow ``Lin-Chen/MMStar``:
``index, question`` (``stem\\nOptions: A: a, B: b, ...``, built from the option columns when the question has no
``Options:`` line), ``image``, ``answer``, ``category``, ``l2_category``.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_tsv
from mg_eval.tasks.loaders import ImageRef, Row


def _question(record: dict) -> str:
    question = str(record["question"])
    if "\nOptions: " in question:
        return question
    options = [(letter, record.get(letter)) for letter in "ABCD" if record.get(letter) is not None]
    return question + "\nOptions: " + ", ".join(f"{letter}: {text}" for letter, text in options)


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``Lin-Chen/MMStar`` schema from the tsv (``split`` is always ``val``)."""
    file = find_file(path, ("MMStar*.tsv", "mmstar*.tsv", "*.tsv"), "MMStar tsv")
    rows = []
    for record, where in read_tsv(file, {"l2-category": "l2_category"}):
        if "question" not in record:
            raise DataError(f"{where}: no 'question' column; expected the VLMEvalKit MMStar.tsv.")
        record["question"] = _question(record)
        image = record.get("image")
        record["image"] = None if image is None else ImageRef(where=where, b64=str(image))
        rows.append(({k: v for k, v in record.items() if k not in ("A", "B", "C", "D")}, where))
    return rows
