"""MathVista official files: ``testmini.json`` + ``images/`` (+ optional ``query.json``).

``testmini.json`` = ``{pid: {question, image: "images/<pid>.jpg", choices, unit, precision, answer,
question_type, answer_type, pid, metadata: {split, ...}}}``. Rows follow ``AI4Math/MathVista``; the image
is in ``decoded_image`` (lazy), ``image`` keeps the relative path, ``query`` comes from ``query.json``.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_json
from mg_eval.tasks.loaders import ImageRef, Row


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``AI4Math/MathVista`` schema from the official json and image folder."""
    file = find_file(path, (f"{split}.json", f"data/{split}.json"), f"MathVista {split}.json")
    content = read_json(file)
    query_file = file.parent / "query.json"
    queries = read_json(query_file) if query_file.is_file() else {}
    if not isinstance(content, dict):
        raise DataError(f"{file}: expected the official mapping {{pid: {{...}}}}.")
    rows = []
    for pid, item in content.items():
        if not isinstance(item, dict):
            raise DataError(f"{file}: pid {pid}: must be an object of fields, got {type(item).__name__}; fix the data file.")
        where = f"{file}: pid {pid}"
        item_split = (item.get("metadata") or {}).get("split")
        if item_split not in (None, split):
            raise DataError(f"{where}: belongs to split '{item_split}' but the task evaluates '{split}'.")
        record = {"pid": str(pid), **item}
        if item.get("image"):
            record["decoded_image"] = ImageRef(where=where, path=str(file.parent / item["image"]))
        if pid in queries:
            record["query"] = queries[pid]
        rows.append((record, where))
    return rows
