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
