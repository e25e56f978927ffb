"""MM-Vet: a results json ``{"v1_0": prediction, ...}`` + ``mm-vet.json`` (+ an official grade file).

As ``mm-vet_evaluator.py``: questions, ground truths and capabilities come from ``--annotation mm-vet.json``;
every question of it must have a prediction. ``--grades <model>_<gpt>-grade-<n>runs.json``
(``{"v1_i": {"score": [...]}}``) supplies existing grades, which are reused; the judge grades the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import (
    ScoreOptions,
    json_object_or_none,
    read_json,
    require_annotation,
    require_keys,
)

from . import scorer as mmvet


def detect(path: Path) -> bool:
    """A json object whose keys look like ``v1_<n>`` and whose values are strings."""
    data = json_object_or_none(path)
    return data is not None and all(
        str(key).startswith("v1_") and isinstance(value, str) for key, value in list(data.items())[:5])


def _grades(options: ScoreOptions) -> dict[str, list[float]]:
    if options.grades is None:
        return {}
    data = read_json(options.grades)
    if not isinstance(data, Mapping):
        raise DataError(f"{options.grades}: expected the official grade file {{'v1_i': {{'score': [...]}}}}.")
    out = {}
    for key, entry in data.items():
        require_keys(entry, ("score",), f"{options.grades}: {key}")
        out[key] = [float(score) for score in entry["score"]]
    return out


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per ``mm-vet.json`` question, in its order."""
    predictions = read_json(path)
    if not isinstance(predictions, Mapping):
        raise DataError(f"{path}: expected a json object {{'v1_0': prediction, ...}}.")
    annotation = require_annotation(options, "mmvet-results", "mm-vet.json")
    metadata = read_json(annotation)
    if not isinstance(metadata, Mapping):
        raise DataError(f"{annotation}: expected the mm-vet.json object {{'v1_0': {{question, answer, capability}}}}.")
    grades = _grades(options)
    records = []
    for key, item in metadata.items():
        require_keys(item, ("question", "answer", "capability"), f"{annotation}: {key}")
        if key not in predictions:
            raise DataError(f"{path}: no prediction for {key}; the results json must answer every question "
                            f"of {annotation.name}.")
        records.append(mmvet.process_result(key, str(predictions[key]), item["question"], item["answer"],
                                            item["capability"], grades.get(key, ())))
    return records


def aggregate(records: list[dict], judge: Any, options: ScoreOptions) -> dict:
    """:func:`scorer.aggregate` with ``options.num_runs`` runs."""
    return mmvet.aggregate(records, judge=judge, num_runs=options.num_runs)


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the grades of every run and their mean (``None`` = ungraded)."""
    per_sample = scores.get("per_sample", {})
    out = []
    for record in records:
        grades = per_sample.get(record["doc_id"])
        out.append({**record, "prompt": None, "response": record["prediction"], "extracted": None,
                    "target": record["answer"], "grades": grades,
                    "score": sum(grades) / len(grades) if grades else None})
    return out
