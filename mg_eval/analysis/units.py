"""Which unit each score is built from, as :class:`~mg_eval.analysis.stats.UnitScores`.

The bootstrap and the paired tests resample the unit the official metric is computed from, and recompute
the metric on it. Each benchmark declares its units in ``tasks/<benchmark>/benchmark.yaml`` (``units``, see
:class:`mg_eval.api.UnitSpec`); this module implements the three statistics a declaration can name:

| statistic | unit | metric recomputed from the units |
|---|---|---|
| ``mean`` | a sample | ``scale`` x mean outcome (a score in [0, 1], a 0/1 hit, a judge grade) |
| ``all_of_group`` | a group of samples (``group_by``, optionally ``% group_modulo``) | ``scale`` x fraction of groups whose every sample is right |
| ``acc_plus`` | a group (``group_by``) inside a stratum (``stratify_by``) | Σ over strata of 100·acc + 100·acc+ |

``acc_plus`` scores are sums of per-stratum scores, so their groups are resampled *within* their stratum
(stratified bootstrap): every resample keeps the number of groups per stratum.

:func:`unit_scores` returns ``None`` for a score key its benchmark declares no unit for (e.g. a per-subject
accuracy); the tables then show the score without an interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mg_eval.analysis.stats import UnitScores, mean_statistic
from mg_eval.api import Benchmark, UnitSpec
from mg_eval.errors import DataError
from mg_eval.tasks import find_benchmark

__all__ = ["declaration_of", "matching_mean_units", "sample_outcomes", "unit_scores"]


def declaration_of(task_name: str, benchmark: str | None = None) -> Benchmark | None:
    """The declaration of a run's benchmark (by its recorded benchmark name, else by task name), or ``None``."""
    for name in (benchmark, task_name):
        if name:
            declaration = find_benchmark(name)
            if declaration is not None:
                return declaration
    return None


def unit_scores(benchmark: str | Benchmark, score_key: str, samples: Sequence[Mapping[str, Any]],
                scores: Mapping[str, Any] | None = None, source: str = "samples.jsonl") -> UnitScores | None:
    """The units behind ``score_key`` of a ``benchmark`` run, or ``None`` if that score has no unit form.

    Per-sample outcomes decided at aggregation time (group hits, random fallbacks, judge extractions and
    grades) are read from the aggregate's ``per_sample`` detail when the run's
    ``scores`` still hold it, else from each sample's ``score`` in samples.jsonl. Ungraded samples (``None``)
    are left out, exactly as the benchmark's score leaves them out.

    Args:
        benchmark: a declaration, a benchmark name (any spelling) or a task name.
        score_key: the key in results.json ``scores`` (e.g. ``"accuracy"``, ``"perception_total"``).
        samples: the run's samples.jsonl rows.
        scores: the run's results.json ``scores``.
        source: file name for error messages.

    Raises:
        DataError: a sample lacks the field its unit needs (doc_id, its group or stratum field).
    """
    declaration = benchmark if isinstance(benchmark, Benchmark) else declaration_of(benchmark)
    spec = declaration.units.get(score_key) if declaration is not None else None
    if spec is None:
        return None
    title = declaration.title
    if spec.statistic == "acc_plus":
        return _acc_plus_units(samples, spec, title, source)
    outcomes = sample_outcomes(samples, (scores or {}).get("per_sample"), source)
    if spec.statistic == "all_of_group":
        return _group_units(samples, outcomes, spec, title, source)
    graded = {doc_id: value for doc_id, value in outcomes.items() if value is not None}
    return _mean_units(graded, spec.unit, spec.scale)


def matching_mean_units(samples: Sequence[Mapping[str, Any]], scores: Mapping[str, Any] | None,
                        reported: float, source: str = "samples.jsonl") -> UnitScores | None:
    """Units for a benchmark that declares none (e.g. a custom task scored with a mean metric).

    Used only when it is self-evidently right: every sample has a numeric outcome (``per_sample`` detail or
    ``score``) and 100 x (or 1 x) their mean reproduces ``reported`` to 1e-6. Otherwise ``None``.
    """
    try:
        outcomes = sample_outcomes(samples, (scores or {}).get("per_sample"), source)
    except DataError:
        return None
    values = [value for value in outcomes.values() if value is not None]
    if not values or len(values) != len(outcomes):
        return None
    mean = float(np.mean(values))
    for scale in (100.0, 1.0):
        if abs(scale * mean - reported) <= 1e-6 * max(1.0, abs(reported)):
            ids = tuple(outcomes)
            array = np.asarray(values, dtype=np.float64).reshape(len(ids), 1)
            return UnitScores(ids, array, mean_statistic(scale), unit="question")
    return None


def sample_outcomes(samples: Sequence[Mapping[str, Any]], per_sample: Any = None,
                    source: str = "samples.jsonl") -> dict[str, float | None]:
    """``{doc_id: outcome in [0, 1] or None (ungraded)}``.

    From the aggregate's ``per_sample`` detail when given, else from each sample line (its ``per_sample`` detail
    if the harness moved it there, else ``score``, else ``correct``).
    """
    if isinstance(per_sample, Mapping):
        return {str(doc_id): _outcome(detail, doc_id, source) for doc_id, detail in per_sample.items()}
    return {_doc_id(sample, i, source): _outcome(_sample_detail(sample), sample.get("doc_id", i), source)
            for i, sample in enumerate(samples)}


def _sample_detail(sample: Mapping[str, Any]) -> Any:
    """The outcome a samples.jsonl line carries: moved ``per_sample`` detail first, then ``score``."""
    for key in ("per_sample", "score", "correct"):
        if sample.get(key) is not None:
            return sample[key]
    return None


def _outcome(detail: Any, doc_id: Any, source: str) -> float | None:
    """One sample's outcome: a number, a bool, a list of per-run grades (mean), or a dict with the verdict."""
    if detail is None:
        return None
    if isinstance(detail, bool | int | float):
        return float(detail)
    if isinstance(detail, list | tuple):
        return float(np.mean(detail)) if detail else None
    if isinstance(detail, Mapping):
        for key in ("correct", "true_false", "hit", "score"):
            if key in detail:
                return _outcome(detail[key], doc_id, source)
    raise DataError(f"{source}: sample {doc_id!r} has an outcome {detail!r} that is not a number, a list of "
                    "grades or a record with 'correct' / 'true_false' / 'score'")


def _mean_units(outcomes: Mapping[str, float], unit: str, scale: float = 100.0) -> UnitScores:
    ids = tuple(outcomes)
    values = np.fromiter(outcomes.values(), dtype=np.float64, count=len(ids)).reshape(len(ids), 1)
    return UnitScores(ids, values, mean_statistic(scale), unit=unit)


def _doc_id(sample: Mapping[str, Any], index: int, source: str) -> str:
    if "doc_id" not in sample:
        raise DataError(f"{source}: line {index + 1} has no 'doc_id'; samples must be written by the engine")
    return str(sample["doc_id"])


def _group_units(samples: Sequence[Mapping[str, Any]], outcomes: Mapping[str, float | None], spec: UnitSpec,
                 title: str, source: str) -> UnitScores:
    """One unit per group: 1 when every sample of the group was answered right (ungraded: left out)."""
    groups: dict[str, list[float | None]] = {}
    for i, sample in enumerate(samples):
        groups.setdefault(_group_key(sample, i, spec, title, source), []).append(
            outcomes.get(_doc_id(sample, i, source)))
    hits = {group: min(values) for group, values in groups.items() if None not in values}  # type: ignore[type-var]
    return _mean_units(hits, spec.unit, spec.scale)


def _group_key(sample: Mapping[str, Any], index: int, spec: UnitSpec, title: str, source: str) -> str:
    field = spec.group_by[0]
    raw = sample.get(field)
    if spec.group_modulo is None:
        if raw is None:
            raise DataError(f"{source}: {title} sample {sample.get('doc_id', index)!r} has no '{field}' to find "
                            f"its {spec.unit}")
        return str(raw)
    try:
        return str(int(float(raw)) % spec.group_modulo)
    except (TypeError, ValueError):
        raise DataError(f"{source}: {title} sample {sample.get('doc_id', index)!r} has no numeric '{field}' to find "
                        f"its {spec.unit}") from None


def _acc_plus_units(samples: Sequence[Mapping[str, Any]], spec: UnitSpec, title: str, source: str) -> UnitScores:
    """One unit per group within its stratum: values [n_correct_of_its_samples, n_samples, all_correct]."""
    strata_field, categories = spec.stratify_by, spec.strata
    per_group: dict[str, list] = {}
    for i, sample in enumerate(samples):
        category = sample.get(strata_field)
        if category not in categories:
            continue
        group = next((sample[field] for field in spec.group_by if sample.get(field) is not None), None)
        if group is None:
            raise DataError(f"{source}: {title} sample {sample.get('doc_id', i)!r} has no "
                            f"{' / '.join(repr(f) for f in spec.group_by)} field to pair its questions")
        correct = _outcome(sample.get("correct", sample.get("score")), sample.get("doc_id", i), source)
        if correct is None:
            raise DataError(f"{source}: {title} sample {sample.get('doc_id', i)!r} has no 'correct' / 'score'")
        entry = per_group.setdefault(f"{category}/{group}", [category, 0.0, 0, True])
        entry[1] += correct
        entry[2] += 1
        entry[3] = entry[3] and correct >= 1.0
    if not per_group:
        raise DataError(f"{source}: no {title} samples of the categories {list(categories)}")
    present = [c for c in categories if any(entry[0] == c for entry in per_group.values())]
    code = {c: k for k, c in enumerate(present)}
    strata = np.array([code[entry[0]] for entry in per_group.values()], dtype=np.int64)
    values = np.array([[e[1], e[2], float(e[3])] for e in per_group.values()], dtype=np.float64)
    return UnitScores(tuple(per_group), values, _acc_plus_statistic(strata, len(present)), strata, unit=spec.unit)


def _acc_plus_statistic(strata: np.ndarray, n_categories: int) -> Callable[[np.ndarray], np.ndarray]:
    """Σ_c 100·(correct_c / questions_c) + 100·(all-correct images_c / images_c); ``[R, n, 3] -> [R]``."""
    onehot = np.zeros((strata.size, n_categories))
    onehot[np.arange(strata.size), strata] = 1.0
    images_per_category = onehot.sum(axis=0)

    def statistic(values: np.ndarray) -> np.ndarray:
        correct = values[..., 0] @ onehot          # [R, C]
        questions = values[..., 1] @ onehot        # [R, C]
        both = values[..., 2] @ onehot             # [R, C]
        return (100.0 * correct / questions + 100.0 * both / images_per_category).sum(axis=-1)

    return statistic
