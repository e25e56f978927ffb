"""POPE: LLaVA-1.5's evaluation folder (``eval_pope.py --annotation-dir --question-file --result-file``).

A folder holding ``coco/coco_pope_<setting>.json`` (labels), ``llava_pope_test.jsonl`` (questions with their
``category``) and the answer file (``answers.jsonl``, or the one ``answers/*.jsonl``; lines ``{"question_id",
"text", ...}``). As the official script: the answers of a setting, in answer-file order, are paired by position
with that setting's labels (``zip``: the shorter list wins).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError

from . import scorer as pope

QUESTION_FILE = "llava_pope_test.jsonl"


def detect(path: Path) -> bool:
    """A folder with the question file and at least one ``coco/coco_pope_<setting>.json``."""
    return (path.is_dir() and (path / QUESTION_FILE).is_file()
            and any((path / "coco" / f"coco_pope_{s}.json").is_file() for s in pope.SETTINGS))


def _jsonl(file: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{file}:{number}: not a JSON object ({exc}).") from exc
    return rows


def _answer_file(path: Path) -> Path:
    candidates = [path / "answers.jsonl"] if (path / "answers.jsonl").is_file() else sorted(path.glob("answers/*.jsonl"))
    if len(candidates) != 1:
        raise DataError(f"{path}: expected one answer file (answers.jsonl, or a single answers/*.jsonl), found "
                        f"{len(candidates)}; pass the folder of one model's answers.")
    return candidates[0]


def read(path: Path) -> list[dict]:
    """Records per setting, paired with the labels as the official script pairs them."""
    if not detect(path):
        raise DataError(f"{path}: the POPE format is a folder with {QUESTION_FILE} and coco/coco_pope_<setting>.json.")
    categories = {q["question_id"]: q.get("category") for q in _jsonl(path / QUESTION_FILE)}
    answers = _jsonl(_answer_file(path))
    unknown = [a.get("question_id") for a in answers if a.get("question_id") not in categories]
    if unknown:
        raise DataError(f"{path}: answers for question ids not in {QUESTION_FILE}: {unknown[:5]}.")
    records = []
    for setting in pope.SETTINGS:
        file = path / "coco" / f"coco_pope_{setting}.json"
        if not file.is_file():
            continue
        labels = [row["label"] for row in _jsonl(file)]
        mine = [a for a in answers if categories[a["question_id"]] == setting]
        for answer, label in zip(mine, labels):
            records.append(pope.process_result(f"{setting}/{answer['question_id']}", setting, label, answer["text"]))
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: response, parsed yes/no, target and 1/0."""
    return [{**record, "prompt": None, "extracted": record["parsed"], "score": float(record["correct"])}
            for record in records]
