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


def from_hub(rows: list[Row]) -> list[Row]:
    """Rows of the hub copy lmms-eval reads (``lmms-lab-encoder/HallusionBench``, split ``image``: ``category,
    subcategory, visual_input, set_id, figure_id, question_id, question, gt_answer`` (``"1"`` yes / ``"0"`` no),
    ``image``) in this task's schema: ``index`` built as VLMEvalKit's (``<category>_<subcategory>_<visual_input>_
    <set_id>_<figure_id>_<question_id>``), ``answer`` Yes / No, ``l2_category`` the subcategory.

    A row already in this schema (a copy saved from loaded docs) is kept as it is.

    Raises:
        DataError: a row without those fields or with another ``gt_answer``.
    """
    fields = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "question", "gt_answer")
    out = []
    for record, where in rows:
        if {"index", "answer", "l2_category"} <= set(record):  # already in this schema (a copy saved from docs)
            out.append((record, where))
            continue
        missing = [field for field in fields if record.get(field) is None]
        if missing:
            raise DataError(f"{where}: no {missing}; expected the hub copy lmms-lab-encoder/HallusionBench.")
        if str(record["gt_answer"]) not in ("0", "1"):
            raise DataError(f"{where}: gt_answer {record['gt_answer']!r} is not '1' (yes) or '0' (no).")
        index = "_".join(str(record[field]) for field in fields[:6])
        out.append(({"index": index, "question": str(record["question"]),
                     "answer": "Yes" if str(record["gt_answer"]) == "1" else "No", "category": str(record["category"]),
                     "l2_category": str(record["subcategory"]), "image": record.get("image")}, where))
    return out
