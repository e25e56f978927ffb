"""TextVQA official files: ``TextVQA_0.5.1_val.json`` + the image folder (+ the Rosetta OCR file).

``TextVQA_0.5.1_val.json`` = ``{"dataset_type": "val", "data": [{question, question_id, image_id, answers
(10), ...}]}``. Images are ``<image_id>.jpg`` in ``train_images/`` (the official release keeps val images
there), ``images/`` or next to the json. OCR tokens come from ``TextVQA_Rosetta_OCR_v0.2_val.json``
(``{"data": [{image_id, ocr_tokens}]}``) when present; without it ``ocr_tokens`` is ``None`` and only the
``lmms`` protocol (no OCR line) can render prompts.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_json
from mg_eval.tasks.loaders import ImageRef, Row

_SPLIT_NAMES = {"validation": "val", "train": "train", "test": "test"}
_IMAGE_DIRS = ("train_images", "images", "train_val_images/train_images", ".")


def _ocr_tokens(folder: Path, split: str) -> dict[str, list[str]] | None:
    files = sorted(folder.glob(f"TextVQA_Rosetta_OCR_*_{_SPLIT_NAMES.get(split, split)}.json"))
    if not files:
        return None
    return {str(item["image_id"]): list(item.get("ocr_tokens", [])) for item in read_json(files[0])["data"]}


def _image_path(folder: Path, image_id: str) -> Path:
    candidates = [folder / d / f"{image_id}.jpg" for d in _IMAGE_DIRS]
    return next((c for c in candidates if c.is_file()), candidates[0])


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``lmms-lab/textvqa`` schema from the official json (see module docstring)."""
    file = find_file(path, ("TextVQA_0.5.1_*.json", "TextVQA_*_val.json"), "TextVQA annotation json")
    content = read_json(file)
    if not isinstance(content, dict) or not isinstance(content.get("data"), list):
        raise DataError(f"{file}: expected the official layout {{'dataset_type': ..., 'data': [...]}}.")
    expected = _SPLIT_NAMES.get(split, split)
    if content.get("dataset_type") not in (None, expected):
        raise DataError(f"{file}: is the '{content['dataset_type']}' split but the task evaluates '{expected}'; "
                        f"use TextVQA_0.5.1_{expected}.json.")
    ocr = _ocr_tokens(file.parent, split)
    rows = []
    for i, item in enumerate(content["data"]):
        if not isinstance(item, dict):
            raise DataError(f"{file}: data[{i}]: must be an object of fields, got {type(item).__name__}; fix the data file.")
        where = f"{file}: data[{i}] (question_id {item.get('question_id')})"
        record = dict(item)
        if "image_id" in item:
            record["image"] = ImageRef(where=where, path=str(_image_path(file.parent, item["image_id"])))
        if ocr is not None:
            record["ocr_tokens"] = ocr.get(str(item.get("image_id")), [])
        else:
            record.setdefault("ocr_tokens", None)
        rows.append((record, where))
    return rows
