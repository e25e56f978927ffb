"""What the report shows about one run, read generically from ``results.json`` / ``samples.jsonl``.

Nothing here names a benchmark. Per-sample outcomes come from :func:`mg_eval.analysis.units.sample_outcomes`
(the aggregate's ``per_sample`` detail where present, else each sample's ``score`` / ``correct``); sub-score
breakdowns are the nested objects of ``scores``; the category a sample belongs to is the sample field whose
values are the keys of such a breakdown.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg_eval.analysis import stats, units
from mg_eval.errors import DataError, UserInputError
from mg_eval.results import RunFacts, collect_runs

#: Sample fields that hold the task's question text (first present wins; else the prompt without its
#: template prefix / suffix).
QUESTION_KEYS = ("question", "query")
#: Sample fields that hold the answer the task extracted from the raw response (first non-empty wins).
EXTRACTED_KEYS = ("extracted", "parsed_pred", "parsed", "extraction", "pred")
#: Category fields tried when no breakdown of ``scores`` names the sample's category.
FALLBACK_CATEGORY_KEYS = ("category", "metadata.category", "subject", "capability", "l2_category", "question_type")
#: Breakdowns whose name looks like a count table are shown as tables, not plotted as scores.
_COUNT_NAME = re.compile(r"(^n_|_n$|^n$|count|num_)")
#: Inner keys tried (in order) when a breakdown maps a category to an object of numbers.
_INNER_SCORE_KEYS = ("score", "accuracy", "acc")
RIGHT = 1.0 - 1e-9  # an outcome at full credit counts as "right"


@dataclass(frozen=True)
class Breakdown:
    """One sub-score table of a run: ``values[label]`` (number), titled ``name``."""

    name: str
    values: dict[str, float]
    is_count: bool = False


@dataclass
class RunView(RunFacts):
    """One run as the report sees it.

    Attributes:
        path: the run directory.
        record: its results.json.
        samples: its samples.jsonl rows.
        slug: a unique, folder-safe id (used for file names and links).
        outcomes: ``{doc_id: outcome in [0, 1] or None}`` (None = ungraded).
        verdicts: ``{doc_id: the aggregate's per-sample detail}`` where it is richer than a number.
        category_field: dotted sample field holding the category (``None`` = no categories).
        primary: (value, Interval or None) of the primary metric.
    """

    path: Path
    record: dict[str, Any]
    samples: list[dict[str, Any]]
    slug: str
    outcomes: dict[str, float | None] = field(default_factory=dict)
    verdicts: dict[str, Any] = field(default_factory=dict)
    category_field: str | None = None
    primary: tuple[float | None, stats.Interval | None] = (None, None)

    @property
    def label(self) -> str:
        return f"{self.model} · {self.task} · {self.protocol} · {self.run_id}"

    @property
    def not_for_reporting(self) -> list[str]:
        """Why this run's numbers must not go into a paper table (empty list = they may)."""
        reasons = []
        if self.record.get("limit") is not None:
            reasons.append(f"--limit {self.record['limit']}")
        elif not self.record.get("for_reporting", True):
            reasons.append("marked not for reporting")
        overrides = (self.record.get("run_config") or {}).get("generation_overrides") or {}
        if overrides:
            reasons.append("generation overrides " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())))
        return reasons

    @property
    def n_ungraded(self) -> int:
        return sum(value is None for value in self.outcomes.values())

    def category_of(self, sample: Mapping[str, Any]) -> list[str]:
        """The sample's categories (a list: some benchmarks give a sample several)."""
        return _as_labels(field_value(sample, self.category_field)) if self.category_field else []


def field_value(sample: Mapping[str, Any], dotted: str | None) -> Any:
    """``sample["a"]["b"]`` for ``"a.b"`` (``None`` where absent)."""
    value: Any = sample
    for part in (dotted or "").split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _as_labels(value: Any) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str | int) and not isinstance(item, bool)]
    return []


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def run_slug(record: Mapping[str, Any]) -> str:
    """``<model>__<task>__<run_id>`` made folder-safe, with a short hash so distinct runs never collide."""
    text = f"{record['model']['name']}__{record['task']['name']}__{record['run_id']}"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:120]
    return f"{safe}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def load_run_views(root: str | Path, n_resamples: int, seed: int) -> list[RunView]:
    """Every run under ``root`` (sorted by model, task, run id); ``UserInputError`` when there is none."""
    if not Path(root).is_dir():
        raise UserInputError(f"results root {root} does not exist; pass the folder written by `mg-eval run` "
                             "(or `mg-eval demo --output DIR`)")
    views = []
    for run in collect_runs(root, required="pass the folder written by `mg-eval run` (or `mg-eval demo --output DIR`)"):
        # a results.json alone still gets its scores shown
        view = RunView(path=run.path, record=run.record, samples=run.samples if run.has_samples else [],
                       slug=run_slug(run.record))
        view.outcomes, view.verdicts = outcomes_of(view.samples, run.record["scores"], str(run.path))
        view.category_field = detect_category_field(view.samples, run.record["scores"])
        view.primary = primary_interval(view, n_resamples, seed)
        views.append(view)
    return sorted(views, key=lambda v: (v.model, v.task, v.run_id))


def outcomes_of(samples: Sequence[Mapping[str, Any]], scores: Mapping[str, Any],
                source: str) -> tuple[dict[str, float | None], dict[str, Any]]:
    """Per-sample outcomes and the aggregate's per-sample verdicts (dict/list detail) by doc_id."""
    per_sample = scores.get("per_sample")
    per_sample = per_sample if isinstance(per_sample, Mapping) else {}
    outcomes: dict[str, float | None] = {}
    verdicts: dict[str, Any] = {}
    for index, sample in enumerate(samples):
        doc_id = str(sample.get("doc_id", index))
        if doc_id in per_sample:
            detail = per_sample[doc_id]
            outcomes[doc_id] = _safe_outcome({doc_id: detail}, source)
            if isinstance(detail, Mapping | list):
                verdicts[doc_id] = detail
        elif per_sample:
            outcomes[doc_id] = None  # the aggregate graded other samples, not this one
        else:
            outcomes[doc_id] = _safe_outcome(sample, source, own=True)
    return outcomes, verdicts


def _safe_outcome(item: Mapping[str, Any], source: str, own: bool = False) -> float | None:
    try:
        found = units.sample_outcomes([item], None, source) if own else units.sample_outcomes([], item, source)
    except DataError:
        return None
    return next(iter(found.values()), None)


def breakdowns(scores: Mapping[str, Any]) -> list[Breakdown]:
    """The nested sub-score tables of ``scores`` (``per_sample`` excluded), in their order."""
    found: list[Breakdown] = []
    for name, value in scores.items():
        if name == "per_sample" or not isinstance(value, Mapping) or not value:
            continue
        found.extend(_breakdowns_of(str(name), value, depth=0))
    return found


def _breakdowns_of(name: str, table: Mapping[str, Any], depth: int) -> list[Breakdown]:
    """Numbers (``None`` = not computable, left out) per label, or objects of numbers per label."""
    if all(_number_or_none(v) for v in table.values()):
        values = {str(k): float(v) for k, v in table.items() if is_number(v)}
        return [Breakdown(name, values, bool(_COUNT_NAME.search(name)))] if values else []
    if all(isinstance(v, Mapping) for v in table.values()):
        inner = _common_numeric_key(table.values())
        if inner is not None:
            return [Breakdown(f"{name} ({inner})", {str(k): float(v[inner]) for k, v in table.items()
                                                   if is_number(v.get(inner))})]
        if depth < 1:
            return [b for k, v in table.items() if v for b in _breakdowns_of(f"{name} / {k}", v, depth + 1)]
    return []


def _number_or_none(value: Any) -> bool:
    return value is None or is_number(value)


def _common_numeric_key(rows: Any) -> str | None:
    """An inner key every row has as a number or null (some row a number); score-like names first."""
    rows = list(rows)
    common = [key for key in rows[0] if all(key in row and _number_or_none(row[key]) for row in rows)
              and any(is_number(row[key]) for row in rows)] if rows else []
    for key in _INNER_SCORE_KEYS:
        if key in common:
            return key
    return common[0] if common else None


def flat_scores(scores: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level scores that are numbers or null (a null score = not computable, e.g. no judge)."""
    return {str(k): v for k, v in scores.items() if is_number(v) or v is None}


def _candidate_fields(samples: Sequence[Mapping[str, Any]]) -> list[str]:
    """Top-level and one-level-nested sample fields holding strings or lists of strings."""
    names: dict[str, None] = {}
    for sample in samples[:200]:
        for key, value in sample.items():
            if isinstance(value, Mapping):
                for sub, inner in value.items():
                    if _as_labels(inner):
                        names[f"{key}.{sub}"] = None
            elif _as_labels(value) and key not in ("doc_id", "prompt", "response", "fingerprint"):
                names[key] = None
    return list(names)


def detect_category_field(samples: Sequence[Mapping[str, Any]], scores: Mapping[str, Any]) -> str | None:
    """The sample field whose values are the labels of a breakdown of ``scores``; else a fallback name."""
    labels = [set(b.values) for b in breakdowns(scores) if not b.is_count and len(b.values) > 1]
    best: tuple[float, int, str] | None = None
    candidates = _candidate_fields(samples)
    for rank, name in enumerate(candidates):
        values = [_as_labels(field_value(sample, name)) for sample in samples]
        for keys in labels:
            covered = sum(bool(keys.intersection(v)) for v in values) / max(1, len(values))
            if covered >= 0.5 and (best is None or (covered, -rank) > best[:2]):
                best = (covered, -rank, name)
    if best is not None:
        return best[2]
    for name in FALLBACK_CATEGORY_KEYS:
        if name in candidates:
            return name
    return None


def primary_interval(view: RunView, n_resamples: int, seed: int) -> tuple[float | None, stats.Interval | None]:
    """The primary metric and its bootstrap CI (``None`` when the score has no unit form)."""
    scores = view.record["scores"]
    key = view.record.get("primary_metric")
    value = scores.get(key) if key else None
    if not is_number(value):
        return None, None
    unit = score_units(view, key)
    if unit is None or not unit.n:
        return float(value), None
    return float(value), stats.bootstrap_ci(unit, n_resamples, seed=seed)


def score_units(view: RunView, key: str) -> stats.UnitScores | None:
    """The units behind ``scores[key]`` (None where there is no unit form or the samples lack them)."""
    scores = view.record["scores"]
    try:
        unit = units.unit_scores(view.benchmark, key, view.samples, scores, source=str(view.path))
        if unit is None and is_number(scores.get(key)):
            unit = units.matching_mean_units(view.samples, scores, float(scores[key]), source=str(view.path))
    except DataError:
        return None
    return unit
