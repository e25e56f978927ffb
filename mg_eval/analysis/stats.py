"""Confidence intervals and paired significance tests for benchmark scores (numpy, vectorised, seeded).

A score is a statistic of *units*: the things the benchmark's metric is built from (a sample for
TextVQA / MMMU / MathVista / MM-Vet, an image with its two questions for MME, a circular question group for
MMBench). :class:`UnitScores` holds one row of numbers per unit plus the function that turns a table of
units into the score, so every method below resamples the right unit and recomputes the real metric.

Methods (all seeded by ``seed``; same inputs and seed give the same numbers):

* :func:`bootstrap_ci` -- percentile bootstrap: draw ``n_resamples`` samples of the units with replacement
  (within each stratum when the metric is a sum over strata, e.g. MME categories), recompute the score, and
  take the ``(1-confidence)/2`` and ``(1+confidence)/2`` quantiles (numpy's linear interpolation).
* :func:`paired_bootstrap` -- the same resamples applied to both runs (paired by unit id): the CI of
  Δ = score(B) - score(A), and the two-sided p-value of the "shift" bootstrap test,
  ``p = (1 + #{|Δ* - Δ| >= |Δ|}) / (R + 1)``: how often a resampled Δ strays from the observed one by at least
  as much as the observed Δ strays from 0 (the bootstrap distribution moved to have mean 0 under H0).
* :func:`paired_permutation` -- the paired permutation (swap) test: under H0 the two runs' outcomes on a unit
  are exchangeable, so each unit's pair is swapped with probability 1/2 and Δ recomputed;
  ``p = #{|Δ*| >= |Δ|} / N``. Exact (all 2^n swap patterns) when ``2**n <= n_resamples``, Monte Carlo with
  ``p = (1 + #) / (R + 1)`` otherwise.

Shapes: ``values`` is ``[n_units, n_features]``; a statistic maps ``[R, n_units, n_features] -> [R]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mg_eval.errors import DataError

Statistic = Callable[[np.ndarray], np.ndarray]

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
_CHUNK_ELEMENTS = 4_000_000  # resampled numbers held at once (32 MB of float64)
_TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class UnitScores:
    """The units a metric is computed from.

    Attributes:
        unit_ids: ``n`` unique ids (pairing key across runs).
        values: float array ``[n, k]``: the numbers of each unit the metric needs.
        statistic: maps resampled values ``[R, n, k]`` to scores ``[R]``.
        strata: optional int array ``[n]``; resampling keeps each stratum's size (stratified bootstrap).
        unit: what one unit is, for reports ("sample", "image", "question group").
    """

    unit_ids: tuple[str, ...]
    values: np.ndarray
    statistic: Statistic
    strata: np.ndarray | None = None
    unit: str = "sample"

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[0] != len(self.unit_ids):
            raise ValueError(f"values must be [n_units, k]; got {self.values.shape} for {len(self.unit_ids)} ids")
        if len(set(self.unit_ids)) != len(self.unit_ids):
            raise DataError("unit ids are not unique; each sample/unit id must appear once per run")
        if self.strata is not None and self.strata.shape != (len(self.unit_ids),):
            raise ValueError("strata must be [n_units]")

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    def score(self) -> float:
        """The metric on the observed units."""
        return float(self.statistic(self.values[None])[0])

    def aligned_to(self, unit_ids: Sequence[str]) -> UnitScores:
        """The same units reordered to ``unit_ids`` (which must be the same set)."""
        position = {uid: i for i, uid in enumerate(self.unit_ids)}
        order = np.fromiter((position[uid] for uid in unit_ids), dtype=np.int64, count=len(unit_ids))
        strata = None if self.strata is None else self.strata[order]
        return UnitScores(tuple(unit_ids), self.values[order], self.statistic, strata, self.unit)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_units: int
    n_resamples: int
    method: str = "percentile bootstrap"


@dataclass(frozen=True)
class DeltaTest:
    """Δ = score(B) - score(A) on paired units, its CI and a two-sided p-value."""

    delta: float
    low: float
    high: float
    p_value: float
    confidence: float
    n_units: int
    n_resamples: int
    method: str


def mean_statistic(scale: float = 100.0, column: int = 0) -> Statistic:
    """Statistic ``scale * mean(values[..., column])``: accuracy-like metrics (``[R, n, k] -> [R]``)."""
    def statistic(values: np.ndarray) -> np.ndarray:
        return scale * values[..., column].mean(axis=-1)
    return statistic


def resample_indices(n: int, n_resamples: int, rng: np.random.Generator,
                     strata: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap indices ``[n_resamples, n]``; with ``strata``, position j draws from j's own stratum."""
    if strata is None:
        return rng.integers(0, n, size=(n_resamples, n))
    indices = np.empty((n_resamples, n), dtype=np.int64)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        draws = rng.integers(0, members.size, size=(n_resamples, members.size))
        indices[:, members] = members[draws]
    return indices


def _chunks(n_resamples: int, n_elements_per_resample: int) -> list[int]:
    size = max(1, _CHUNK_ELEMENTS // max(1, n_elements_per_resample))
    return [min(size, n_resamples - start) for start in range(0, n_resamples, size)]


def _check_settings(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def bootstrap_distribution(units: UnitScores, n_resamples: int = DEFAULT_RESAMPLES,
                           seed: int = DEFAULT_SEED) -> np.ndarray:
    """Scores of ``n_resamples`` bootstrap resamples of the units, ``[n_resamples]``."""
    if units.n == 0:
        raise DataError("cannot bootstrap a score computed from zero units")
    rng = np.random.default_rng(seed)
    out = []
    for size in _chunks(n_resamples, units.values.size):
        idx = resample_indices(units.n, size, rng, units.strata)
        out.append(units.statistic(units.values[idx]))
    return np.concatenate(out)


def percentile_interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    """The ``(1-c)/2`` and ``(1+c)/2`` quantiles of ``distribution`` (linear interpolation)."""
    alpha = 1.0 - confidence
    low, high = np.quantile(distribution, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_ci(units: UnitScores, n_resamples: int = DEFAULT_RESAMPLES,
                 confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> Interval:
    """Percentile bootstrap CI of the metric over its units (see the module docstring)."""
    _check_settings(n_resamples, confidence)
    distribution = bootstrap_distribution(units, n_resamples, seed)
    low, high = percentile_interval(distribution, confidence)
    return Interval(units.score(), low, high, confidence, units.n, n_resamples)


def pair_units(a: UnitScores, b: UnitScores, names: tuple[str, str] = ("A", "B")) -> tuple[UnitScores, UnitScores]:
    """Align ``b`` to ``a``'s unit order; DataError naming the differing ids when the unit sets differ."""
    ids_a, ids_b = set(a.unit_ids), set(b.unit_ids)
    if ids_a != ids_b:
        only_a = sorted(ids_a - ids_b)
        only_b = sorted(ids_b - ids_a)
        raise DataError(
            f"paired test needs the same samples in both runs: {len(only_a)} only in {names[0]} "
            f"(e.g. {only_a[:3]}), {len(only_b)} only in {names[1]} (e.g. {only_b[:3]}); "
            "evaluate both on the same data without --limit, or with the same --limit"
        )
    if a.strata is not None and b.strata is not None and not np.array_equal(a.strata, b.aligned_to(a.unit_ids).strata):
        raise DataError(f"the same unit falls in different categories in {names[0]} and {names[1]}")
    return a, b.aligned_to(a.unit_ids)


def paired_bootstrap(a: UnitScores, b: UnitScores, n_resamples: int = DEFAULT_RESAMPLES,
                     confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> DeltaTest:
    """Paired bootstrap of Δ = score(b) - score(a): percentile CI and two-sided shift p-value."""
    _check_settings(n_resamples, confidence)
    a, b = pair_units(a, b)
    observed = b.score() - a.score()
    rng = np.random.default_rng(seed)
    deltas = []
    for size in _chunks(n_resamples, a.values.size + b.values.size):
        idx = resample_indices(a.n, size, rng, a.strata)
        deltas.append(b.statistic(b.values[idx]) - a.statistic(a.values[idx]))
    distribution = np.concatenate(deltas)
    low, high = percentile_interval(distribution, confidence)
    extreme = np.count_nonzero(np.abs(distribution - observed) >= abs(observed) - _TIE_TOLERANCE)
    p_value = (1 + extreme) / (n_resamples + 1)
    return DeltaTest(float(observed), low, high, float(min(1.0, p_value)), confidence, a.n, n_resamples, "paired bootstrap")


def paired_permutation(a: UnitScores, b: UnitScores, n_resamples: int = DEFAULT_RESAMPLES,
                       seed: int = DEFAULT_SEED, confidence: float = DEFAULT_CONFIDENCE) -> DeltaTest:
    """Paired permutation (swap) test of Δ = score(b) - score(a); exact when ``2**n <= n_resamples``.

    The returned CI is the paired bootstrap percentile CI (a permutation test gives no interval).
    """
    _check_settings(n_resamples, confidence)
    a, b = pair_units(a, b)
    observed = b.score() - a.score()
    exact = a.n < 63 and 2 ** a.n <= n_resamples
    rng = np.random.default_rng(seed)
    extreme, total = 0, 0
    for swaps in _swap_masks(a.n, n_resamples, rng, exact):
        mask = swaps[:, :, None]
        perm_a = np.where(mask, b.values[None], a.values[None])
        perm_b = np.where(mask, a.values[None], b.values[None])
        deltas = b.statistic(perm_b) - a.statistic(perm_a)
        extreme += int(np.count_nonzero(np.abs(deltas) >= abs(observed) - _TIE_TOLERANCE))
        total += swaps.shape[0]
    p_value = extreme / total if exact else (1 + extreme) / (total + 1)
    interval = paired_bootstrap(a, b, n_resamples, confidence, seed)
    method = "exact paired permutation" if exact else "paired permutation"
    return DeltaTest(float(observed), interval.low, interval.high, float(min(1.0, p_value)), confidence, a.n, total, method)


def _swap_masks(n: int, n_resamples: int, rng: np.random.Generator, exact: bool):
    """Boolean swap patterns ``[chunk, n]``: all 2^n of them (exact), else ``n_resamples`` random ones."""
    chunk = max(1, _CHUNK_ELEMENTS // max(1, 4 * n))
    if exact:
        patterns = itertools.product((False, True), repeat=n)
        while block := list(itertools.islice(patterns, chunk)):
            yield np.array(block, dtype=bool).reshape(len(block), n)
        return
    for size in _chunks(n_resamples, 4 * n):
        yield rng.random((size, n)) < 0.5


def compare(a: UnitScores, b: UnitScores, method: str = "bootstrap", n_resamples: int = DEFAULT_RESAMPLES,
            confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED) -> DeltaTest:
    """Δ test by name: ``"bootstrap"`` (paired bootstrap) or ``"permutation"`` (paired permutation)."""
    if method == "bootstrap":
        return paired_bootstrap(a, b, n_resamples, confidence, seed)
    if method == "permutation":
        return paired_permutation(a, b, n_resamples, seed, confidence)
    raise ValueError(f"unknown test {method!r}; use 'bootstrap' or 'permutation'")
