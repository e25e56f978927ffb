"""MME: the official ``eval_tool`` result folder (``<task>.txt``: ``image\\tquestion\\tGT\\tprediction``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError

from . import scorer as mme

_CATEGORIES = mme.PERCEPTION + mme.COGNITION
_FIX = "Each line must be 'image<TAB>question<TAB>ground truth<TAB>prediction' with no tab or newline in the prediction."


def detect(path: Path) -> bool:
    """A folder holding at least one ``<task>.txt`` of the 14 MME sub-tasks."""
    return path.is_dir() and any((path / f"{name}.txt").is_file() for name in _CATEGORIES)


def _read_task_file(file: Path, category: str) -> list[dict]:
    with open(file, encoding="utf-8") as handle:
        lines = handle.readlines()  # the official tool keeps the trailing newline of each prediction
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) % 2:
        raise DataError(f"{file}: {len(lines)} lines; the official tool pairs the two questions of each image "
                        "on consecutive lines, so the count must be even.")
    records = []
    for number, line in enumerate(lines, start=1):
        fields = line.split("\t")
        if len(fields) != 4:
            raise DataError(f"{file}:{number}: {len(fields)} tab-separated fields, expected 4. {_FIX}")
        image, _question, target, prediction = fields
        pair = (number - 1) // 2  # the official pairing is by line order
        records.append(mme.process_result(f"{category}/{number}", category, f"{pair}:{image}", target, prediction))
    return records


def read(path: Path) -> list[dict]:
    """Records of every ``<task>.txt`` in ``path`` (sub-tasks in the official order)."""
    if not path.is_dir():
        raise DataError(f"{path}: the MME format is a folder of <task>.txt files (eval_tool result layout).")
    records = []
    for category in _CATEGORIES:
        file = path / f"{category}.txt"
        if file.is_file():
            records.extend(_read_task_file(file, category))
    if not records:
        raise DataError(f"{path}: no MME task files ({', '.join(c + '.txt' for c in _CATEGORIES)}).")
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: response, parsed answer, target and 1/0 per question."""
    return [{**record, "prompt": None, "extracted": record["parsed"], "score": float(record["correct"])}
            for record in records]
