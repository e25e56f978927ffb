"""TextVQA: a LLaVA-style answer jsonl + the official annotation file (``TextVQA_0.5.1_val.json``).

As LLaVA's ``eval_textvqa.py``: each answer line has ``question_id`` (LLaVA writes the **image id** there),
``prompt`` and ``text``; the question is recovered from the prompt (:func:`question_from_prompt`) and the
human answers are looked up by ``(image_id, question.lower())``. Lines that carry a real TextVQA
``question_id`` (an int found in the annotation) and no usable prompt are matched by that id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions, read_json, require_annotation, require_keys

from . import scorer as textvqa

_OCR_QUESTION = re.compile(r"Question: (.*?) Short answer:", re.DOTALL)
_REFERENCE = "Reference OCR token: "


def question_from_prompt(prompt: str) -> str | None:
    """LLaVA's ``prompt_processor``: the lower-cased question inside a TextVQA prompt (``None`` if none)."""
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        match = _OCR_QUESTION.search(prompt)
        question = match.group(1) if match else None
    elif _REFERENCE in prompt and len(lines) == 3:
        question = lines[1] if prompt.startswith("Reference OCR token:") else lines[0]
    elif len(lines) == 2:
        question = lines[0]
    else:
        question = None
    return question.lower() if question is not None else None


def detect(path: Path) -> bool:
    """A ``.jsonl`` whose first line has ``question_id``, ``prompt`` and ``text``."""
    if not (path.is_file() and path.suffix == ".jsonl"):
        return False
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
    try:
        item = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(item, dict) and {"question_id", "prompt", "text"} <= set(item)


def _annotations(file: Path) -> tuple[dict, dict]:
    data = read_json(file)
    if not isinstance(data, Mapping) or "data" not in data:
        raise DataError(f"{file}: not a TextVQA annotation file (no top-level 'data'); use TextVQA_0.5.1_val.json.")
    by_key, by_qid = {}, {}
    for position, entry in enumerate(data["data"]):
        require_keys(entry, ("image_id", "question", "question_id", "answers"), f"{file}: data[{position}]")
        by_key[(str(entry["image_id"]), entry["question"].lower())] = entry
        by_qid[str(entry["question_id"])] = entry
    return by_key, by_qid


def _lines(path: Path) -> list[tuple[int, dict]]:
    out = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                out.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc}).") from None
    return out


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per answer line, scored against its 10 human answers."""
    by_key, by_qid = _annotations(require_annotation(options, "textvqa-llava", "TextVQA_0.5.1_val.json"))
    records = []
    for number, item in _lines(path):
        where = f"{path}:{number}"
        require_keys(item, ("question_id", "text"), where, "Use LLaVA's answer file (model_vqa_loader output).")
        question = question_from_prompt(str(item.get("prompt", "")))
        entry = by_key.get((str(item["question_id"]), question)) if question is not None else None
        if entry is None:
            entry = by_qid.get(str(item["question_id"])) if not item.get("prompt") else None
        if entry is None:
            raise DataError(f"{where}: no annotation for image {item['question_id']!r} with question "
                            f"{question!r}; check that the annotation file is the val split the answers came from.")
        records.append(textvqa.process_result(str(entry["question_id"]), str(item["text"]), entry["answers"]))
    if not records:
        raise DataError(f"{path}: no answers.")
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, its normalised form, the 10 answers and the VQA score."""
    return [{**record, "prompt": None, "response": record["prediction"],
             "extracted": record["normalized_prediction"], "target": record["gt_answers"]} for record in records]
