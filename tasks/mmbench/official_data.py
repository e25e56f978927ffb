"""MMBench official file: ``mmbench_dev_20230712.tsv`` (base64 images, circular copies as extra rows).

Columns ``index, question, hint, A, B, C, D, answer, category, image, source, l2-category, comment, split``;
read with pandas defaults (as the official MGM/LLaVA scripts do, so "None"/"NA" option texts become
missing), renamed to the ``lmms-lab/MMBench`` schema (``L2-category``). An ``image`` cell holding only a
row index refers to that row's image (the compact VLMEvalKit form).
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_tsv
from mg_eval.tasks.loaders import ImageRef, Row


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``lmms-lab/MMBench`` (en) schema from the official tsv."""
    file = find_file(path, ("mmbench_dev_*.tsv", "MMBench*.tsv", "*.tsv"), "MMBench tsv")
    records = read_tsv(file, {"l2-category": "L2-category"})
    images = {str(record.get("index")): record.get("image") for record, _ in records}
    rows = []
    for record, where in records:
        if record.get("split") not in (None, split):
            raise DataError(f"{where}: split is '{record['split']}' but the task evaluates '{split}'; "
                            f"use the {split} tsv.")
        image = record.get("image")
        if isinstance(image, (int, str)) and str(image).isdigit() and len(str(image)) < 16:
            image = images.get(str(image))
        record["image"] = None if image is None else ImageRef(where=where, b64=str(image))
        rows.append((record, where))
    return rows
