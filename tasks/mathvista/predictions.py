"""MathVista: the official output json ``{pid: {problem fields..., "response", "extraction"}}``.

A non-empty stored ``extraction`` is used as is (the official ``extract_answer.py`` skips those); a missing
or empty one goes through the official extraction (rule shortcuts, then the judge). A problem without
``answer`` takes it from ``--annotation testmini.json``, as ``calculate_score.py`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions, json_object_or_none, read_json, require_keys

from . import scorer as mathvista

_KEYS = ("question_type", "answer_type", "choices", "precision", "response")


def detect(path: Path) -> bool:
    """A json object of pid -> problem with ``response`` and MathVista's type fields."""
    data = json_object_or_none(path)
    if data is None:
        return False
    first = next(iter(data.values()))
    return isinstance(first, dict) and {"response", "question_type", "answer_type"} <= set(first)


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """Records of every pid, in file order (the official order)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a json object of pid -> problem, got {type(data).__name__}.")
    gts = read_json(options.annotation) if options.annotation else None
    records = []
    for pid, problem in data.items():
        where = f"{path}: pid {pid}"
        require_keys(problem, _KEYS, where, "Use the output of the official MathVista response generation.")
        problem = dict(problem)
        if "answer" not in problem:
            if gts is None or pid not in gts:
                raise DataError(f"{where}: no 'answer'; pass --annotation testmini.json with this pid.")
            problem["answer"] = gts[pid]["answer"]
        if "query" not in problem and gts is not None and pid in gts and "query" in gts[pid]:
            problem["query"] = gts[pid]["query"]
        stored = problem.get("extraction")
        stored = stored if isinstance(stored, str) and stored.strip() else None
        records.append(mathvista.process_result(pid, str(problem["response"]), problem, extraction=stored))
    if not records:
        raise DataError(f"{path}: no problems.")
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: extraction, normalised prediction and 1/0 (``None`` = ungraded)."""
    per_sample = scores.get("per_sample", {})
    out = []
    for record in records:
        detail = per_sample.get(record["doc_id"])
        out.append({**record, "prompt": None, "extracted": detail["extraction"] if detail else None,
                    "prediction": detail["prediction"] if detail else None, "target": record["answer"],
                    "score": float(detail["true_false"]) if detail else None})
    return out
