"""AI2D official file: VLMEvalKit's ``AI2D_TEST.tsv`` (``https://opencompass.openxlab.space/utils/VLMEval/
AI2D_TEST.tsv``, md5 ``0f593e0d1c7df9a3d69bf1f947e71975``; the diagrams with their option labels masked).

Columns ``index, image`` (base64), ``question, A, B, C, D`` (an empty cell: fewer options), ``answer`` (a letter),
``category`` (the diagram topic) and, where present, ``hint``. Rows keep those columns.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_tsv
from mg_eval.tasks.loaders import ImageRef, Row

KEPT = ("index", "question", "A", "B", "C", "D", "answer", "category", "hint")


def read(path: Path, split: str) -> list[Row]:
    """Rows from ``AI2D_TEST.tsv`` (``split`` is always ``test``)."""
    file = find_file(path, ("AI2D_TEST.tsv", "AI2D*.tsv", "*.tsv"), "AI2D_TEST tsv")
    rows = []
    for record, where in read_tsv(file):
        missing = [column for column in ("index", "question", "A", "B", "answer") if record.get(column) is None]
        if missing:
            raise DataError(f"{where}: no {missing}; expected VLMEvalKit's AI2D_TEST.tsv (index, image, question, "
                            "A-D, answer, category).")
        row = {column: record.get(column) for column in KEPT}
        row.update({letter: None if row[letter] is None else str(row[letter]) for letter in "ABCD"})
        image = record.get("image")
        row["image"] = None if image is None else ImageRef(where=where, b64=str(image))
        rows.append((row, where))
    return rows


def from_hub(rows: list[Row]) -> list[Row]:
    """Rows of the hub copy lmms-eval reads (``lmms-lab-encoder/ai2d``, split ``test``: ``question, options`` (a list of
    2-4 texts), ``answer`` (the option's number as a string), ``image``) in this task's schema: ``index`` is the
    row position, the options go to ``A``-``D``, the answer becomes a letter; no ``category`` (the hub copy has
    none).

    A row already in this schema (a copy saved from loaded docs) is kept as it is.

    Raises:
        DataError: a row without those fields, or an answer that is not one of the options' numbers.
    """
    out = []
    for position, (record, where) in enumerate(rows):
        if {"index", "A", "B"} <= set(record):  # already in this schema (a copy saved from docs)
            out.append((record, where))
            continue
        options = record.get("options")
        if record.get("question") is None or not isinstance(options, list) or not 2 <= len(options) <= 4:
            raise DataError(f"{where}: expected the hub copy lmms-lab-encoder/ai2d (question, options with 2-4 texts, "
                            "answer, image).")
        number = str(record.get("answer"))
        if not number.isdigit() or int(number) >= len(options):
            raise DataError(f"{where}: answer {record.get('answer')!r} is not the number of one of the "
                            f"{len(options)} options.")
        letters = {letter: (str(options[i]) if i < len(options) else None) for i, letter in enumerate("ABCD")}
        out.append(({"index": position, "question": str(record["question"]), **letters,
                     "answer": "ABCD"[int(number)], "category": None, "hint": None, "image": record.get("image")},
                    where))
    return out
