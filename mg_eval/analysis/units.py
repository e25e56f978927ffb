"""Which unit each benchmark's score is built from, as :class:`~mg_eval.analysis.stats.UnitScores`.

The bootstrap and the paired tests resample the unit the official metric is computed from, and recompute
the metric on it:

| benchmark | unit | metric recomputed from the units |
|---|---|---|
| TextVQA | question | 100 × mean VQA accuracy (per-sample score in [0, 1]) |
| MMMU | question | 100 × mean correctness (random fallbacks as drawn in the run) |
| MathVista | question | 100 × mean correctness |
| MM-Vet | question | 100 × mean judge grade (0.0-1.0); ungraded samples are refused |
| MMBench | circular question group (``index % 1e6``) | 100 × fraction of groups whose every copy is right |
| MME | image (its two questions), stratified by sub-task | Σ over sub-tasks of 100·acc + 100·acc+ |

MME is a sum of per-category scores, so its images are resampled *within* their category (stratified
bootstrap): every resample keeps the official number of images per sub-task.

:func:`unit_scores` returns ``None`` for a score key that is not built from units this way (e.g. a
per-category MMMU accuracy); the tables then show the score without an interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mg_eval.analysis.stats import UnitScores, mean_statistic
from mg_eval.errors import DataError

# MME sub-tasks (official names and order; benchmark_scoring.md §3).
MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR")
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")

# Score keys of results.json that are 100 x the mean of a per-unit value, per benchmark.
_MEAN_SCORE_KEYS: dict[str, tuple[str, ...]] = {
    "textvqa": ("accuracy",),
    "mmmu": ("accuracy",),
    "mathvista": ("accuracy",),
    "mmvet": ("total",),
    "mmbench": ("accuracy",),
}
_MME_TOTALS = {"perception_total": MME_PERCEPTION, "cognition_total": MME_COGNITION,
               "total": MME_PERCEPTION + MME_COGNITION}

MMBENCH_CIRCULAR_OFFSET = 1_000_000
KNOWN_BENCHMARKS = ("textvqa", "mmbench", "mmvet", "mmmu", "mathvista", "mme")


def benchmark_of(task_name: str, benchmark: str | None = None) -> str:
    """Normalised benchmark id (``textvqa``, ``mme``, ``mmbench``, ``mmvet``, ``mmmu``, ``mathvista``)."""
    name = (benchmark or task_name).lower().replace("-", "").replace("_", "")
    for known in KNOWN_BENCHMARKS:
        if name.startswith(known):
            return known
    return name


def unit_scores(benchmark: str, score_key: str, samples: Sequence[Mapping[str, Any]],
                scores: Mapping[str, Any] | None = None, source: str = "samples.jsonl") -> UnitScores | None:
    """The units behind ``score_key`` of a ``benchmark`` run, or ``None`` if that score has no unit form.

    Per-sample outcomes decided at aggregation time (MMBench circular hits, MMMU random fallbacks, MathVista
    judge extractions, MM-Vet grades) are read from the aggregate's ``per_sample`` detail when the run's
    ``scores`` still hold it, else from each sample's ``score`` in samples.jsonl. Ungraded samples (``None``)
    are left out, exactly as the benchmark's score leaves them out.

    Args:
        benchmark: benchmark id or task name (``"textvqa_val"`` works).
        score_key: the key in results.json ``scores`` (e.g. ``"accuracy"``, ``"perception_total"``).
        samples: the run's samples.jsonl rows.
        scores: the run's results.json ``scores``.
        source: file name for error messages.

    Raises:
        DataError: a sample lacks the field its unit needs (doc_id, MME image, MMBench index).
    """
    bench = benchmark_of(benchmark)
    if bench == "mme":
        categories = _MME_TOTALS.get(score_key)
        if categories is None and score_key in MME_PERCEPTION + MME_COGNITION:
            categories = (score_key,)
        return None if categories is None else _mme_units(samples, categories, source)
    if score_key not in _MEAN_SCORE_KEYS.get(bench, ()):
        return None
    outcomes = sample_outcomes(samples, (scores or {}).get("per_sample"), source)
    if bench == "mmbench":
        return _mmbench_units(samples, outcomes, source)
    return _mean_units({doc_id: value for doc_id, value in outcomes.items() if value is not None}, "question")


def matching_mean_units(samples: Sequence[Mapping[str, Any]], scores: Mapping[str, Any] | None,
                        reported: float, source: str = "samples.jsonl") -> UnitScores | None:
    """Units for a benchmark this module does not know (e.g. a custom task scored with a mean metric).

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


def _mean_units(outcomes: Mapping[str, float], unit: str) -> UnitScores:
    ids = tuple(outcomes)
    values = np.fromiter(outcomes.values(), dtype=np.float64, count=len(ids)).reshape(len(ids), 1)
    return UnitScores(ids, values, mean_statistic(100.0), unit=unit)


def _doc_id(sample: Mapping[str, Any], index: int, source: str) -> str:
    if "doc_id" not in sample:
        raise DataError(f"{source}: line {index + 1} has no 'doc_id'; samples must be written by the engine")
    return str(sample["doc_id"])


def _mmbench_units(samples: Sequence[Mapping[str, Any]], outcomes: Mapping[str, float | None],
                   source: str) -> UnitScores:
    """One unit per circular group: 1 when every copy of the question was answered right (ungraded: left out)."""
    groups: dict[str, list[float | None]] = {}
    for i, sample in enumerate(samples):
        groups.setdefault(_mmbench_group(sample, i, source), []).append(outcomes.get(_doc_id(sample, i, source)))
    hits = {group: min(values) for group, values in groups.items() if None not in values}  # type: ignore[type-var]
    return _mean_units(hits, "question group")


def _mmbench_group(sample: Mapping[str, Any], index: int, source: str) -> str:
    raw = sample.get("index")
    try:
        return str(int(float(raw)) % MMBENCH_CIRCULAR_OFFSET)
    except (TypeError, ValueError):
        raise DataError(f"{source}: MMBench sample {sample.get('doc_id', index)!r} has no numeric 'index' to find "
                        "its circular group") from None


def _mme_units(samples: Sequence[Mapping[str, Any]], categories: Sequence[str], source: str) -> UnitScores:
    """One unit per image: values [n_correct_of_its_questions, n_questions, all_correct]."""
    per_image: dict[str, list] = {}
    for i, sample in enumerate(samples):
        category = sample.get("category")
        if category not in categories:
            continue
        image = sample.get("image", sample.get("question_id"))
        if image is None:
            raise DataError(f"{source}: MME sample {sample.get('doc_id', i)!r} has no 'image' field to pair its questions")
        correct = _outcome(sample.get("correct", sample.get("score")), sample.get("doc_id", i), source)
        if correct is None:
            raise DataError(f"{source}: MME sample {sample.get('doc_id', i)!r} has no 'correct' / 'score'")
        entry = per_image.setdefault(f"{category}/{image}", [category, 0.0, 0, True])
        entry[1] += correct
        entry[2] += 1
        entry[3] = entry[3] and correct >= 1.0
    if not per_image:
        raise DataError(f"{source}: no MME samples of the categories {list(categories)}")
    present = [c for c in categories if any(entry[0] == c for entry in per_image.values())]
    code = {c: k for k, c in enumerate(present)}
    strata = np.array([code[entry[0]] for entry in per_image.values()], dtype=np.int64)
    values = np.array([[e[1], e[2], float(e[3])] for e in per_image.values()], dtype=np.float64)
    return UnitScores(tuple(per_image), values, _mme_statistic(strata, len(present)), strata, unit="image")


def _mme_statistic(strata: np.ndarray, n_categories: int) -> Callable[[np.ndarray], np.ndarray]:
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
