"""Training seeds and a pre-registered criterion in an ablation spec.

A spec may train every row several times with different seeds and state, before any result exists, what
its comparison must show::

    seeds: [0, 1, 2]                 # every row is built and evaluated once per seed
    criterion:                       # pre-registered; mg-eval ablate reports whether it is met
      row: mining                    # arm (row id before expansion) ...
      baseline: no_mining            # ... compared with this arm, seed by seed, on the same questions
      metric: synth                  # a metric column key
      min_delta: 10                  # points: the mean over seeds and every seed's Δ must reach it
      max_p: 0.01                    # paired test, per seed and pooled over seeds, must stay below it
    rows:
      - {id: mining, ...}
      - {id: token_extension, seeds: [0], ...}   # a row may use fewer seeds (it must be a subset)

Each row is expanded into one row per seed, id ``<id>_seed<s>``, checkpoint ``<checkpoint>/seed<s>``,
section ``<section> (seed <s>)``; ``compare_to`` points to the same seed's row. The expanded rows carry
``seed`` and ``arm`` (the id as written), so the rest of the ablation flow (training, evaluation, the
table with its per-seed Δ) works on them unchanged; :mod:`mg_eval.analysis.seed_summary` aggregates them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mg_eval.errors import UserInputError

CRITERION_KEYS = {"row", "baseline", "metric", "min_delta", "max_p"}


@dataclass(frozen=True)
class Criterion:
    """A pre-registered comparison: ``row`` − ``baseline`` on ``metric`` ≥ ``min_delta`` with p < ``max_p``."""

    row: str
    baseline: str
    metric: str
    min_delta: float
    max_p: float

    def text(self) -> str:
        """The criterion in words (for tables and reports)."""
        return (f"{self.row} − {self.baseline} on {self.metric} ≥ {self.min_delta:g} points with paired "
                f"p < {self.max_p:g}, for the mean over seeds and for every seed")


def parse_seeds(raw: Any, where: str) -> tuple[int, ...]:
    """``[0, 1, 2]`` -> ``(0, 1, 2)``; distinct non-negative integers."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                       for s in raw):
        raise UserInputError(f"{where}: 'seeds' must be a non-empty list of non-negative integers, e.g. [0, 1, 2]")
    if len(set(raw)) != len(raw):
        raise UserInputError(f"{where}: 'seeds' lists a seed twice: {raw}")
    return tuple(raw)


def parse_criterion(raw: Any, where: str, arms: Sequence[str], metric_keys: Sequence[str],
                    seeds: Sequence[int]) -> Criterion | None:
    """The ``criterion`` mapping, checked against the spec's row ids and metric keys."""
    if raw is None:
        return None
    if not seeds:
        raise UserInputError(f"{where}: 'criterion' needs 'seeds' (it is judged over training seeds)")
    if not isinstance(raw, Mapping) or set(raw) != CRITERION_KEYS:
        raise UserInputError(f"{where}: 'criterion' must be a mapping with exactly the keys {sorted(CRITERION_KEYS)}")
    for key in ("row", "baseline"):
        if raw[key] not in arms:
            raise UserInputError(f"{where}: criterion.{key} {raw[key]!r} is not a row id; rows: {list(arms)}")
    if raw["metric"] not in metric_keys:
        raise UserInputError(f"{where}: criterion.metric {raw['metric']!r} is not a metric key: {list(metric_keys)}")
    try:
        min_delta, max_p = float(raw["min_delta"]), float(raw["max_p"])
    except (TypeError, ValueError):
        raise UserInputError(f"{where}: criterion.min_delta and criterion.max_p must be numbers") from None
    if not 0 < max_p < 1:
        raise UserInputError(f"{where}: criterion.max_p must be between 0 and 1, got {max_p}")
    return Criterion(str(raw["row"]), str(raw["baseline"]), str(raw["metric"]), min_delta, max_p)


def row_seeds(raw_row: Mapping[str, Any], seeds: Sequence[int], where: str) -> tuple[int, ...]:
    """The seeds one row is built with: its own ``seeds`` (a subset of the spec's) or all of them."""
    own = parse_seeds(raw_row.get("seeds"), where)
    if own and not seeds:
        raise UserInputError(f"{where}: a row's 'seeds' needs the spec-level 'seeds' list")
    extra = sorted(set(own) - set(seeds))
    if extra:
        raise UserInputError(f"{where}: seeds {extra} are not in the spec's seeds {list(seeds)}")
    return own or tuple(seeds)


def expand_rows(rows: Sequence[Any], seeds_of_row: Sequence[tuple[int, ...]], where: str) -> tuple[Any, ...]:
    """One row per (seed, row), seeds outermost, as described in the module docstring."""
    by_seed = {(row.id, seed) for row, seeds in zip(rows, seeds_of_row) for seed in seeds}
    expanded = []
    for seed in sorted({s for seeds in seeds_of_row for s in seeds}):
        for row, seeds in zip(rows, seeds_of_row):
            if seed not in seeds:
                continue
            compare_to = row.compare_to
            if compare_to is not None:
                if (compare_to, seed) not in by_seed:
                    raise UserInputError(f"{where}: row {row.id!r} compares to {compare_to!r}, which has no seed {seed}")
                compare_to = f"{compare_to}_seed{seed}"
            expanded.append(dataclasses.replace(
                row, id=f"{row.id}_seed{seed}", arm=row.id, seed=seed, compare_to=compare_to,
                checkpoint=f"{row.checkpoint.rstrip('/')}/seed{seed}",
                section=f"{row.section} (seed {seed})" if row.section else f"seed {seed}"))
    return tuple(expanded)
