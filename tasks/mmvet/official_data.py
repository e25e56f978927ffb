"""MM-Vet official files: ``mm-vet.json`` + ``images/``.

``mm-vet.json`` = ``{"v1_0": {"imagename", "capability": [..], "question", "answer"}, ...}``. Rows follow
``lmms-lab/MMVet``: ``question_id`` (``v1_0``), ``image``, ``question``, ``answer``, ``capability``
(comma-separated string), ``image_source`` (the file name).
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_json
from mg_eval.tasks.loaders import ImageRef, Row


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``lmms-lab/MMVet`` schema from the official json and image folder."""
    file = find_file(path, ("mm-vet.json", "mmvet.json"), "mm-vet.json")
    content = read_json(file)
    if not isinstance(content, dict):
        raise DataError(f"{file}: expected the official mapping {{'v1_0': {{...}}, ...}}.")
    image_dir = file.parent / "images"
    rows = []
    for key, item in content.items():
        if not isinstance(item, dict):
            raise DataError(f"{file}: {key}: must be an object of fields, got {type(item).__name__}; fix the data file.")
        where = f"{file}: {key}"
        record = {"question_id": key, **{k: v for k, v in item.items() if k not in ("imagename", "capability")}}
        if "imagename" in item:
            record["image"] = ImageRef(where=where, path=str(image_dir / item["imagename"]))
            record["image_source"] = item["imagename"]
        if "capability" in item:
            capability = item["capability"]
            record["capability"] = ",".join(capability) if isinstance(capability, list) else str(capability)
        rows.append((record, where))
    return rows
