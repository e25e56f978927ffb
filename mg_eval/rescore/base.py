"""Shared pieces of the re-scoring flow: the format description, options, result and file helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg_eval.api import PredictionFormat
from mg_eval.errors import DataError, UserInputError
from mg_eval.tasks.formats import (
    read_json,  # the one JSON reader of benchmark files (UTF-8 + JSON errors)
    read_tsv,
)

__all__ = ["ScoreOptions", "PredictionFormat", "ScoreResult", "read_json", "require_keys", "require_annotation",
           "SCORER_VERSION", "is_prediction_table", "read_prediction_table", "samples_with_hits", "table_prediction"]

#: Version of the scoring code; recorded in every results record written by ``mg-eval score``.
SCORER_VERSION = "1.0"


@dataclass(frozen=True)
class ScoreOptions:
    """What a reader may need besides the prediction file.

    Attributes:
        annotation: the ground-truth / metadata file a format needs (named in the format's description).
        grades: a grade file of an earlier judge pass whose grades are reused (formats that grade).
        num_runs: judge grading runs to average (formats that grade).
    """

    annotation: Path | None = None
    grades: Path | None = None
    num_runs: int = 1


@dataclass
class ScoreResult:
    """Scores of one prediction file, ready to print or to write as a results record."""

    task: str
    benchmark: str
    source_format: str
    source: str
    scores: dict
    primary_metric: str
    n_samples: int
    samples: list[dict] = field(repr=False)
    protocol: str = "mgm"
    judge: str | None = None
    task_version: str = SCORER_VERSION
    judge_object: Any = field(default=None, repr=False)


def json_object_or_none(path: Path) -> dict | None:
    """The non-empty JSON object in ``path`` if it is a readable ``.json`` file holding one, else None.

    For format detection: a file that is not such an object is simply not this format (no error).
    """
    if not (path.is_file() and path.suffix == ".json"):
        return None
    try:
        data = read_json(path)
    except DataError:
        return None
    return data if isinstance(data, dict) and data else None


def require_keys(item: Mapping, keys: tuple[str, ...], where: str, fix: str = "") -> None:
    """Raise :class:`DataError` naming ``where`` and the missing ``keys`` of ``item``."""
    if not isinstance(item, Mapping):
        raise DataError(f"{where}: expected an object, got {type(item).__name__}. {fix}".rstrip())
    missing = [key for key in keys if key not in item]
    if missing:
        raise DataError(f"{where}: missing field(s) {missing}. {fix}".rstrip())


def require_annotation(options: ScoreOptions, fmt: str, what: str) -> Path:
    """The ``--annotation`` file a format cannot do without (else :class:`UserInputError` saying which)."""
    if options.annotation is None:
        raise UserInputError(f"format {fmt} needs --annotation {what}.")
    if not options.annotation.exists():
        raise UserInputError(f"--annotation {options.annotation}: file not found ({what}).")
    return options.annotation


def is_prediction_table(path: Path, columns: tuple[str, ...], name_suffix: str | None = None) -> bool:
    """An ``.xlsx``/``.tsv`` prediction table (VLMEvalKit's ``<model>_<dataset>`` files) with ``columns``, its
    name ending in ``name_suffix`` when given. For detection: an unreadable file is simply not one."""
    if not (path.is_file() and path.suffix in (".xlsx", ".tsv")):
        return False
    if name_suffix is not None and not path.stem.endswith(name_suffix):
        return False
    try:
        rows = read_tsv(path)
    except DataError:
        return False
    return bool(rows) and set(columns) <= set(rows[0][0])


def read_prediction_table(path: Path, columns: tuple[str, ...], fix: str) -> list[tuple[dict, str]]:
    """``(row, where)`` of a prediction table, every row holding ``columns``.

    Raises:
        DataError: an unreadable or empty table, or a row without one of ``columns`` (``fix`` says what to use).
    """
    rows = read_tsv(path)
    if not rows:
        raise DataError(f"{path}: no rows.")
    for row, where in rows:
        require_keys(row, columns, where, fix)
    return rows


def table_prediction(row: Mapping) -> str:
    """``str(prediction)`` of a table row as VLMEvalKit takes it (pandas: an empty cell reads ``nan``)."""
    return "nan" if row["prediction"] is None else str(row["prediction"])


def samples_with_hits(records: list[dict], scores: Mapping[str, Any], target_key: str) -> list[dict]:
    """samples.jsonl lines of a rule-then-judge format: each record with its ``prediction`` as ``response``, the
    rules' answer (``prefetch``) as ``extracted``, ``record[target_key]`` as ``target`` and the hit the aggregate
    reported under ``per_sample`` as ``score`` (``None``: ungraded)."""
    per_sample = scores.get("per_sample", {})
    lines = []
    for record in records:
        hit = per_sample.get(record["doc_id"])
        lines.append({**record, "prompt": None, "response": record["prediction"], "extracted": record["prefetch"],
                      "target": record[target_key], "score": None if hit is None else float(hit)})
    return lines
