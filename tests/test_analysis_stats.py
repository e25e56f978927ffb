"""Interval and p-value math against cases whose answer is known exactly."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from mg_eval.analysis import stats
from mg_eval.analysis.units import matching_mean_units, unit_scores
from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module

mme = benchmark_module("mme", "scorer")
MME_PERCEPTION, MME_COGNITION = mme.PERCEPTION, mme.COGNITION


def _units(values, ids=None) -> stats.UnitScores:
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    ids = ids or tuple(f"s{i}" for i in range(len(values)))
    return stats.UnitScores(tuple(ids), values, stats.mean_statistic(100.0))


def test_bootstrap_variance_matches_the_closed_form() -> None:
    # The bootstrap distribution of a mean has variance var(x, ddof=0) / n (exactly, over all resamples).
    x = np.array([0.0, 0.3, 0.6, 1.0, 1.0, 0.0, 0.9, 0.6, 1.0, 0.0, 0.3, 1.0])
    dist = stats.bootstrap_distribution(_units(x), n_resamples=40_000, seed=3)
    expected = 100**2 * x.var() / x.size
    assert dist.mean() == pytest.approx(100 * x.mean(), abs=0.3)
    assert dist.var() == pytest.approx(expected, rel=0.03)


def test_bootstrap_ci_matches_exact_enumeration_on_tiny_data() -> None:
    # n = 5: all 5^5 equally likely resamples give the exact bootstrap distribution and its percentiles.
    x = np.array([0.0, 1.0, 1.0, 0.5, 1.0])
    exact = np.array([100 * x[list(idx)].mean() for idx in itertools.product(range(5), repeat=5)])
    low, high = np.quantile(exact, [0.025, 0.975])
    interval = stats.bootstrap_ci(_units(x), n_resamples=50_000, seed=1)
    assert interval.estimate == pytest.approx(70.0)
    assert interval.low == pytest.approx(low, abs=1e-9)   # the distribution is discrete: quantiles land on
    assert interval.high == pytest.approx(high, abs=1e-9)  # the same atoms as the exact enumeration


def test_bootstrap_ci_matches_binomial_percentiles() -> None:
    # Bernoulli data: the bootstrap mean is Binomial(n, k/n) / n, whose percentiles are computed exactly here.
    n, k = 40, 26
    x = np.array([1.0] * k + [0.0] * (n - k))
    pmf = np.array([np.exp(_log_comb(n, j) + j * np.log(k / n) + (n - j) * np.log(1 - k / n)) for j in range(n + 1)])
    cdf = np.cumsum(pmf)
    exact_low = 100 * np.searchsorted(cdf, 0.025) / n
    exact_high = 100 * np.searchsorted(cdf, 0.975) / n
    interval = stats.bootstrap_ci(_units(x), n_resamples=20_000, seed=5)
    step = 100 / n
    assert abs(interval.low - exact_low) <= step
    assert abs(interval.high - exact_high) <= step
    assert interval.low < 65.0 < interval.high


def _log_comb(n: int, k: int) -> float:
    from math import lgamma
    return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)


def test_exact_permutation_p_value_all_units_differ() -> None:
    # Five units, all won by A: only the identity and the full swap reach |Δ| -> p = 2 / 2^5.
    a, b = _units([1, 1, 1, 1, 1]), _units([0, 0, 0, 0, 0])
    test = stats.paired_permutation(a, b, n_resamples=1000)
    assert test.method == "exact paired permutation"
    assert test.n_resamples == 32
    assert test.delta == pytest.approx(-100.0)
    assert test.p_value == pytest.approx(2 / 32)


def test_exact_permutation_p_value_with_ties() -> None:
    # Three units differ (all in B's favour), two tie: swapping a tie changes nothing -> p = 2 / 2^3.
    a, b = _units([0, 0, 0, 1, 0]), _units([1, 1, 1, 1, 0])
    assert stats.paired_permutation(a, b, n_resamples=1000).p_value == pytest.approx(0.25)


def test_monte_carlo_permutation_agrees_with_exact() -> None:
    rng = np.random.default_rng(0)
    a_values, b_values = rng.random(12) < 0.4, rng.random(12) < 0.7
    a, b = _units(a_values), _units(b_values)
    exact = stats.paired_permutation(a, b, n_resamples=4096)
    sampled = stats.paired_permutation(a, b, n_resamples=4095, seed=1)
    assert exact.method.startswith("exact") and not sampled.method.startswith("exact")
    assert sampled.p_value == pytest.approx(exact.p_value, abs=0.03)


def test_paired_bootstrap_p_value_matches_exact_enumeration() -> None:
    a_values = np.array([0.0, 1.0, 0.0, 1.0])
    b_values = np.array([1.0, 1.0, 1.0, 0.0])
    observed = 100 * (b_values.mean() - a_values.mean())
    deltas = np.array([100 * (b_values[list(i)].mean() - a_values[list(i)].mean())
                       for i in itertools.product(range(4), repeat=4)])
    exact_p = np.mean(np.abs(deltas - observed) >= abs(observed) - 1e-9)
    test = stats.paired_bootstrap(_units(a_values), _units(b_values), n_resamples=40_000, seed=2)
    assert test.delta == pytest.approx(observed)
    assert test.p_value == pytest.approx(exact_p, abs=0.01)


def test_identical_runs_give_p_one_and_a_zero_interval() -> None:
    a = _units([0, 1, 1, 0, 1, 1])
    test = stats.paired_bootstrap(a, a)
    assert (test.delta, test.low, test.high, test.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_clear_difference_gets_the_smallest_p_value() -> None:
    a, b = _units([0.0] * 200), _units([1.0] * 200)
    test = stats.paired_bootstrap(a, b, n_resamples=999)
    assert test.p_value == pytest.approx(1 / 1000)
    assert test.low == test.high == 100.0


def test_pairing_is_by_id_not_by_position() -> None:
    a = _units([1, 0, 0], ids=("x", "y", "z"))
    b = _units([0, 0, 1], ids=("z", "y", "x"))  # the same outcomes, listed in another order
    assert stats.paired_bootstrap(a, b).delta == 0.0


def test_pairing_refuses_different_sample_sets() -> None:
    a = _units([1, 0, 1], ids=("x", "y", "z"))
    b = _units([1, 0, 1], ids=("x", "y", "w"))
    with pytest.raises(DataError, match=r"1 only in A .*'z'.*1 only in B .*'w'"):
        stats.paired_bootstrap(a, b)


def test_results_are_seeded() -> None:
    a = _units(np.random.default_rng(1).random(50) < 0.5)
    assert stats.bootstrap_ci(a, seed=7) == stats.bootstrap_ci(a, seed=7)
    same = stats.bootstrap_distribution(a, 100, seed=7), stats.bootstrap_distribution(a, 100, seed=7)
    assert np.array_equal(*same)
    assert not np.array_equal(same[0], stats.bootstrap_distribution(a, 100, seed=8))


def test_stratified_resampling_keeps_every_stratum_size() -> None:
    strata = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    idx = stats.resample_indices(strata.size, 500, np.random.default_rng(0), strata)
    assert np.array_equal(strata[idx], np.broadcast_to(strata, idx.shape))
    assert len(np.unique(idx[:, 5:])) == 4  # draws do mix within a stratum


def _mme_records(seed: int) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for category in MME_PERCEPTION + MME_COGNITION:
        for image in range(rng.randint(2, 6)):
            for q, target in enumerate(("Yes", "No")):
                response = rng.choice(["Yes", "No", "maybe"])
                records.append(mme.process_result(f"{category}-{image}-{q}", category, f"{image}.png", target, response))
    return records


@pytest.mark.parametrize("key", ["perception_total", "cognition_total", "total", "OCR"])
def test_mme_units_recompute_the_official_score(key: str) -> None:
    records = _mme_records(seed=4)
    units = unit_scores("mme", key, records)
    assert units.unit == "image"
    assert units.score() == pytest.approx(mme.aggregate(records)[key], abs=1e-9)


def test_mme_interval_brackets_the_score_and_stays_in_range() -> None:
    records = _mme_records(seed=5)
    interval = stats.bootstrap_ci(unit_scores("mme", "perception_total", records), n_resamples=500)
    assert 0 <= interval.low <= interval.estimate <= interval.high <= 2000


def test_mmbench_units_are_circular_groups() -> None:
    # Question 1 has three copies, one wrong -> miss; question 2 has two copies, both right -> hit.
    samples = [{"doc_id": str(i), "index": i} for i in (1, 1_000_001, 2_000_001, 2, 1_000_002)]
    per_sample = {"1": 1, "1000001": 0, "2000001": 1, "2": 1, "1000002": 1}
    units = unit_scores("mmbench_en_dev", "accuracy", samples, {"per_sample": per_sample})
    assert units.unit == "question group" and units.n == 2
    assert units.score() == pytest.approx(50.0)


def test_ungraded_samples_are_left_out_as_the_score_leaves_them_out() -> None:
    samples = [{"doc_id": f"v1_{i}"} for i in range(4)]
    per_sample = {"v1_0": [1.0, 0.5], "v1_1": [0.0, 0.0], "v1_2": None, "v1_3": [0.5, 0.5]}
    units = unit_scores("mmvet", "total", samples, {"per_sample": per_sample})
    assert units.n == 3
    assert units.score() == pytest.approx(100 * (0.75 + 0.0 + 0.5) / 3)


def test_scores_without_a_unit_form_give_none() -> None:
    assert unit_scores("mmmu", "per_subject_acc", [{"doc_id": "a", "score": 1}]) is None


def test_unknown_benchmark_gets_units_only_when_they_reproduce_the_score() -> None:
    samples = [{"doc_id": f"q{i}", "score": s} for i, s in enumerate([1.0, 0.0, 0.6, 1.0])]
    units = matching_mean_units(samples, {"accuracy": 65.0}, reported=65.0)
    assert units is not None and units.score() == pytest.approx(65.0)
    assert matching_mean_units(samples, {}, reported=0.65).score() == pytest.approx(0.65)  # fraction scale
    assert matching_mean_units(samples, {}, reported=70.0) is None       # not a mean of these samples
    assert matching_mean_units(samples + [{"doc_id": "q9", "score": None}], {}, reported=65.0) is None


def test_outcomes_moved_into_the_samples_file_are_used() -> None:
    # A harness may move the aggregate's per-sample detail into each samples.jsonl line.
    samples = [{"doc_id": "validation_Art_1", "per_sample": {"pred": "A", "correct": True, "random": False}},
               {"doc_id": "validation_Art_2", "per_sample": {"pred": "B", "correct": False, "random": True}}]
    assert unit_scores("mmmu_val", "accuracy", samples).score() == pytest.approx(50.0)
