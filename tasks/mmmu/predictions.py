"""MMMU: official per-subject outputs (``<Subject>/output.json`` folders or flat ``<Subject>.json`` files).

Each file is a list of ``{id, question_type, answer, all_choices, index2ans, response}`` as written by the
official inference scripts and read by ``main_parse_and_eval.py``. The gold answer is the file's ``answer``
(as the official flow does); ``--annotation answer_dict_val.json`` replaces it with the official answer
dictionary (real lists for the three list answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions, read_json, require_keys

from . import scorer as mmmu

_KEYS = ("id", "question_type", "answer", "response")


def _subject_files(path: Path) -> list[tuple[str, Path]]:
    found = []
    for subject in mmmu.SUBJECTS:
        for candidate in (path / subject / "output.json", path / f"{subject}.json"):
            if candidate.is_file():
                found.append((subject, candidate))
                break
    return found


def detect(path: Path) -> bool:
    """A folder with ``<Subject>/output.json`` or ``<Subject>.json`` for at least one MMMU subject."""
    return path.is_dir() and bool(_subject_files(path))


def _gold(item: Mapping, answers: Mapping | None, where: str) -> Any:
    if answers is None:
        return item["answer"]
    if item["id"] not in answers:
        raise DataError(f"{where}: id {item['id']!r} is not in the --annotation answer dictionary.")
    entry = answers[item["id"]]
    return entry["ground_truth"] if isinstance(entry, Mapping) else entry


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """Records of every subject file: subjects in the official order, each file's items in file order.

    Both orders are the order of the official random draws (``mg_eval.metrics.mmmu.aggregate`` keeps them).
    """
    files = _subject_files(path) if path.is_dir() else []
    if not files:
        raise DataError(f"{path}: no MMMU outputs; expected <Subject>/output.json or <Subject>.json for "
                        f"subjects such as {', '.join(mmmu.SUBJECTS[:3])}.")
    answers = read_json(options.annotation) if options.annotation else None
    records = []
    for subject, file in files:
        items = read_json(file)
        if not isinstance(items, list):
            raise DataError(f"{file}: expected a list of outputs, got {type(items).__name__}.")
        for position, item in enumerate(items):
            where = f"{file}: item {position}"
            require_keys(item, _KEYS, where)
            if mmmu.subject_of(str(item["id"])) != subject:
                raise DataError(f"{where}: id {item['id']!r} does not belong to subject {subject}.")
            if item["question_type"] == mmmu.MULTIPLE_CHOICE:
                require_keys(item, ("all_choices", "index2ans"), where)
            records.append(mmmu.process_result(item["id"], item["question_type"], str(item["response"]),
                                               _gold(item, answers, where), item.get("all_choices"),
                                               item.get("index2ans")))
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: parsed prediction (random draws included) and 1/0 per question."""
    per_sample = scores.get("per_sample", {})
    out = []
    for record in records:
        detail = per_sample.get(record["doc_id"], {})
        out.append({**record, "prompt": None, "extracted": detail.get("pred"), "target": record["answer"],
                    "score": float(detail["correct"]) if detail else None})
    return out
