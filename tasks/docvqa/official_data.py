"""DocVQA official files (Task 1, single page): ``<split>_v1.0.json`` (or ``..._withQT.json``) + ``documents/``.

``{"dataset_name", "dataset_split", "data": [{questionId, question, image: "documents/<file>.png", docId,
ucsf_document_id, ucsf_document_page_no, answers (not in test), question_types}]}``. Rows follow
``lmms-lab-encoder/DocVQA`` (config ``DocVQA``): the same fields, ``image`` the page, ``answers`` ``None`` in test.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_json
from mg_eval.tasks.loaders import ImageRef, Row

_SPLIT_NAMES = {"validation": "val", "test": "test", "train": "train"}


def read(path: Path, split: str) -> list[Row]:
    """Rows in the hub schema from the official json (see module docstring)."""
    name = _SPLIT_NAMES.get(split, split)
    file = find_file(path, (f"{name}_v1.0*.json", f"{name}/{name}_v1.0*.json", f"spdocvqa_qas/{name}_v1.0*.json"),
                     f"DocVQA {name}_v1.0.json")
    content = read_json(file)
    if not isinstance(content, dict) or not isinstance(content.get("data"), list):
        raise DataError(f"{file}: expected the official layout {{'dataset_split': ..., 'data': [...]}}.")
    if content.get("dataset_split") not in (None, name):
        raise DataError(f"{file}: is the '{content['dataset_split']}' split but the task evaluates '{name}'; "
                        f"use {name}_v1.0.json.")
    rows = []
    for i, item in enumerate(content["data"]):
        if not isinstance(item, dict) or "image" not in item:
            raise DataError(f"{file}: data[{i}]: needs 'image' (documents/<file>.png); use the official json.")
        where = f"{file}: data[{i}] (questionId {item.get('questionId')})"
        record = {**item, "answers": item.get("answers")}
        record["image"] = ImageRef(where=where, path=str(file.parent / item["image"]))
        rows.append((record, where))
    return rows
