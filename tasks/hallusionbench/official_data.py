"""HallusionBench official file: VLMEvalKit's ``HallusionBench.tsv`` (``https://opencompass.openxlab.space/utils/
VLMEval/HallusionBench.tsv``, md5 ``0c23ac0dc9ef46832d7a24504f2a0c7c``).

Columns ``index`` (``<category>_<subcategory>_<visual input>_<set>_<figure>_<question>``), ``image`` (base64),
``question, answer`` (``Yes`` / ``No``), ``category`` (``VD`` / ``VS``), ``l2-category`` (the subcategory).
Rows come out as ``index, question, answer, category, l2_category, image``.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_tsv
from mg_eval.tasks.loaders import ImageRef, Row

COLUMNS = ("index", "question", "answer", "category", "l2_category")


def read(path: Path, split: str) -> list[Row]:
    """Rows from ``HallusionBench.tsv`` (``split`` is always ``test``)."""
    file = find_file(path, ("HallusionBench.tsv", "HallusionBench*.tsv", "*.tsv"), "HallusionBench tsv")
    rows = []
    for record, where in read_tsv(file, {"l2-category": "l2_category"}):
        missing = [column for column in COLUMNS if record.get(column) is None]
        if missing:
            raise DataError(f"{where}: no {missing}; expected VLMEvalKit's HallusionBench.tsv (index, image, "
                            "question, answer, category, l2-category).")
        image = record.get("image")
        row = {column: str(record[column]) for column in COLUMNS}
        row["image"] = None if image is None else ImageRef(where=where, b64=str(image))
        rows.append((row, where))
    return rows
