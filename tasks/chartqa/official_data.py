"""ChartQA official files: ``test/test_human.json`` + ``test/test_augmented.json`` + ``test/png/``.

Each json is a list of ``{"imgname", "query", "label"}`` (a ``{"data": [...]}`` wrapper is accepted too);
images are ``png/<imgname>`` next to the json files. Rows follow ``lmms-lab-encoder/ChartQA``: ``type``
(``human_test`` / ``augmented_test``), ``question``, ``answer``, ``image``, human questions first then
augmented ones, in file order, as the hub copy was built (lmms-eval ``chartqa/upload_chartqa.py``), so the
row places (the task's ``doc_id``) are the hub's.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import read_json
from mg_eval.tasks.loaders import ImageRef, Row

_FILES = (("human", "human_test"), ("augmented", "augmented_test"))


def _folder(path: Path, split: str) -> Path:
    for folder in (path / split, path / "ChartQA Dataset" / split, path):
        if (folder / f"{split}_human.json").is_file():
            return folder
    raise DataError(f"{path}: no {split}_human.json found (looked in {path}/{split}/, '{path}/ChartQA Dataset/"
                    f"{split}/' and {path}/); point --data-path at the ChartQA release folder.")


def read(path: Path, split: str) -> list[Row]:
    """Rows in the hub schema from the two official json files (see module docstring)."""
    folder = _folder(path, split)
    rows = []
    for name, split_type in _FILES:
        file = folder / f"{split}_{name}.json"
        content = read_json(file)
        items = content.get("data") if isinstance(content, dict) else content
        if not isinstance(items, list):
            raise DataError(f"{file}: expected a list of {{imgname, query, label}} objects.")
        for i, item in enumerate(items):
            where = f"{file}: [{i}]"
            if not isinstance(item, dict) or not {"imgname", "query", "label"} <= set(item):
                raise DataError(f"{where}: needs 'imgname', 'query' and 'label'; use the official ChartQA json.")
            rows.append(({"type": split_type, "question": item["query"], "answer": str(item["label"]),
                          "image": ImageRef(where=where, path=str(folder / "png" / item["imgname"]))}, where))
    return rows
