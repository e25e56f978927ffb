"""POPE official files, as LLaVA-1.5 evaluates them: ``coco/coco_pope_<setting>.json`` + COCO ``val2014/``.

Each ``coco_pope_<setting>.json`` (AoiDragon/POPE ``output/coco/``) is JSON lines ``{"question_id": int,
"image": "COCO_val2014_....jpg", "text": question, "label": "yes"|"no"}`` (newer copies add ``image_id``).
Images are looked up in ``val2014/`` (or ``images/``) next to the ``coco/`` folder, or next to the files.
Rows follow ``lmms-lab/POPE``: ``id`` (``<setting>/<question_id>``: question ids restart in each file),
``question_id``, ``question``, ``answer``, ``image_source`` (file stem), ``image``, ``category``.
"""

from __future__ import annotations

import json
from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.loaders import ImageRef, Row

from .scorer import SETTINGS

_FILE = "coco_pope_{}.json"


def _annotation_folder(path: Path) -> Path:
    if path.is_file():
        return path.parent
    for candidate in (path / "coco", path / "pope" / "coco", path):
        if any((candidate / _FILE.format(s)).is_file() for s in SETTINGS):
            return candidate
    raise DataError(f"{path}: no POPE question file found (looked for coco/{_FILE.format('<setting>')} with "
                    f"<setting> in {', '.join(SETTINGS)}); point --data-path at the folder holding coco/ and val2014/.")


def _image_folder(folder: Path) -> Path:
    for candidate in (folder.parent / "val2014", folder / "val2014", folder.parent / "images", folder / "images"):
        if candidate.is_dir():
            return candidate
    return folder.parent / "val2014"  # missing images are reported per row by the schema check


def _rows(file: Path, setting: str, images: Path) -> list[Row]:
    rows = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}: line {n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not a JSON object ({exc}); the file is JSON lines.") from exc
        missing = [key for key in ("question_id", "image", "text", "label") if key not in item]
        if missing:
            raise DataError(f"{where}: missing field(s) {missing} of the official POPE format.")
        record = {"id": f"{setting}/{item['question_id']}", "question_id": str(item["question_id"]),
                  "question": item["text"], "answer": item["label"], "image_source": Path(item["image"]).stem,
                  "image": ImageRef(where=where, path=str(images / item["image"])), "category": setting}
        rows.append((record, where))
    return rows


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``lmms-lab/POPE`` schema from the setting files present (``split`` is always ``test``)."""
    folder = _annotation_folder(path)
    images = _image_folder(folder)
    rows: list[Row] = []
    for setting in SETTINGS:
        file = folder / _FILE.format(setting)
        if path.is_file() and file != path:
            continue
        if file.is_file():
            rows.extend(_rows(file, setting, images))
    return rows
