"""Aggregating an ablation table over training seeds, and judging its pre-registered criterion.

For a spec with ``seeds`` (:mod:`mg_eval.ablation.seeds`) the table has one row per (row, seed). This module
gives, per row as written (*arm*) and metric, the score of every seed with its mean and standard deviation,
and for the spec's ``criterion`` the paired Δ test of every seed (same questions, ``row`` vs ``baseline``)
and a pooled paired test over all (seed, question) pairs. The verdict is ``met`` only when the mean Δ and
every seed's Δ reach ``min_delta`` and every test (per seed and pooled) has p < ``max_p``; it is ``None``
while a seed's run is missing.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mg_eval.ablation.seeds import Criterion
from mg_eval.analysis import stats
from mg_eval.analysis.tables import AblationTable, format_p, load_units


@dataclass(frozen=True)
class ArmScores:
    """One arm's scores on one metric: ``{seed: score}`` over the seeds that have a run."""

    arm: str
    label: str
    metric: str
    scores: dict[int, float]

    @property
    def mean(self) -> float | None:
        """Mean over seeds."""
        return statistics.fmean(self.scores.values()) if self.scores else None

    @property
    def sd(self) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two)."""
        return statistics.stdev(self.scores.values()) if len(self.scores) > 1 else None


@dataclass(frozen=True)
class CriterionResult:
    """The pre-registered comparison, seed by seed and pooled."""

    criterion: Criterion
    per_seed: dict[int, stats.DeltaTest]
    pooled: stats.DeltaTest | None
    missing_seeds: tuple[int, ...]

    @property
    def mean_delta(self) -> float | None:
        """Mean over seeds of Δ = row − baseline."""
        return statistics.fmean(t.delta for t in self.per_seed.values()) if self.per_seed else None

    @property
    def met(self) -> bool | None:
        """True / False once every seed has both runs; None before."""
        if self.missing_seeds or self.pooled is None:
            return None
        c = self.criterion
        tests = [*self.per_seed.values(), self.pooled]
        return (self.mean_delta >= c.min_delta and all(t.delta >= c.min_delta for t in self.per_seed.values())
                and all(t.p_value < c.max_p for t in tests))


@dataclass(frozen=True)
class SeedSummary:
    """Everything :func:`render_seed_markdown` needs."""

    seeds: tuple[int, ...]
    arms: tuple[ArmScores, ...]
    criterion: CriterionResult | None


def summarize_seeds(table: AblationTable) -> SeedSummary:
    """Per-arm scores over seeds and the criterion's tests, from a table of a spec with ``seeds``."""
    spec = table.spec
    arms: list[ArmScores] = []
    for metric in spec.metrics:
        for arm in dict.fromkeys(trow.row.arm_id for trow in table.rows):
            rows = [trow for trow in table.rows if trow.row.arm_id == arm]
            scores = {trow.row.seed: trow.cells[metric.key].value for trow in rows
                      if trow.cells[metric.key].value is not None}
            arms.append(ArmScores(arm, rows[0].row.label, metric.key, scores))
    result = _criterion(table) if spec.criterion else None
    return SeedSummary(spec.seeds, tuple(arms), result)


def _criterion(table: AblationTable) -> CriterionResult:
    spec, criterion = table.spec, table.spec.criterion
    metric = next(m for m in spec.metrics if m.key == criterion.metric)
    run_of = {(trow.row.arm_id, trow.row.seed): trow.run_dirs.get(metric.task) for trow in table.rows}
    per_seed, pooled_a, pooled_b, missing = {}, [], [], []
    for seed in spec.seeds:
        base_dir, row_dir = run_of.get((criterion.baseline, seed)), run_of.get((criterion.row, seed))
        units = (load_units(base_dir, metric), load_units(row_dir, metric)) if base_dir and row_dir else (None, None)
        if units[0] is None or units[1] is None:
            missing.append(seed)
            continue
        a, b = stats.pair_units(*units, names=(criterion.baseline, criterion.row))
        per_seed[seed] = stats.compare(a, b, table.settings.test, table.settings.n_resamples,
                                       table.settings.confidence, table.settings.seed)
        pooled_a.append(_prefixed(a, seed))
        pooled_b.append(_prefixed(b, seed))
    pooled = None
    if not missing:
        pooled = stats.compare(_concatenate(pooled_a), _concatenate(pooled_b), table.settings.test,
                               table.settings.n_resamples, table.settings.confidence, table.settings.seed)
    return CriterionResult(criterion, per_seed, pooled, tuple(missing))


def _prefixed(units: stats.UnitScores, seed: int) -> stats.UnitScores:
    return stats.UnitScores(tuple(f"seed{seed}:{uid}" for uid in units.unit_ids), units.values, units.statistic,
                            units.strata, units.unit)


def _concatenate(parts: list[stats.UnitScores]) -> stats.UnitScores:
    """One unit set over seeds (equal-size seeds: the pooled score is the mean of the seeds' scores)."""
    strata = None if any(p.strata is None for p in parts) else np.concatenate([p.strata for p in parts])
    return stats.UnitScores(tuple(uid for p in parts for uid in p.unit_ids), np.concatenate([p.values for p in parts]),
                            parts[0].statistic, strata, parts[0].unit)


def _number(value: float | None, signed: bool = False) -> str:
    return "" if value is None else (f"{value:+.1f}" if signed else f"{value:.1f}")


def render_seed_markdown(summary: SeedSummary) -> str:
    """Markdown: scores per seed with mean ± sd, then the criterion's tests and verdict."""
    seeds = list(summary.seeds)
    lines = ["| Row | Metric | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd |",
             "|---|---|" + "---|" * len(seeds) + "---|"]
    for arm in summary.arms:
        spread = f" ± {arm.sd:.1f}" if arm.sd is not None else ""
        cells = [_number(arm.scores.get(s)) for s in seeds]
        lines.append(f"| {arm.label} | {arm.metric} | " + " | ".join(cells) + f" | {_number(arm.mean)}{spread} |")
    result = summary.criterion
    if result is None:
        return "\n".join(lines) + "\n"
    lines += ["", f"Pre-registered criterion: {result.criterion.text()}.", ""]
    lines += ["| Seed | Δ | 95 % CI | p |", "|---|---|---|---|"]
    for seed, test in result.per_seed.items():
        lines.append(f"| {seed} | {_number(test.delta, True)} | [{test.low:+.1f}, {test.high:+.1f}] | {format_p(test.p_value)} |")
    if result.pooled is not None:
        test = result.pooled
        lines.append(f"| pooled ({test.n_units} pairs) | {_number(test.delta, True)} | [{test.low:+.1f}, {test.high:+.1f}] | "
                     f"{format_p(test.p_value)} |")
    verdict = {True: "**met**", False: "**not met**", None: f"not judged yet (no runs for seeds {list(result.missing_seeds)})"}
    lines += ["", f"Mean Δ over seeds: {_number(result.mean_delta, True)} points. Criterion: {verdict[result.met]}."]
    return "\n".join(lines) + "\n"


def summary_record(summary: SeedSummary) -> dict:
    """A JSON-ready record of the summary (scores, tests, verdict)."""
    record: dict = {"seeds": list(summary.seeds),
                    "arms": [{"arm": a.arm, "label": a.label, "metric": a.metric, "scores": a.scores,
                              "mean": a.mean, "sd": a.sd} for a in summary.arms]}
    if summary.criterion is not None:
        result = summary.criterion
        record["criterion"] = {"text": result.criterion.text(), "mean_delta": result.mean_delta, "met": result.met,
                               "missing_seeds": list(result.missing_seeds),
                               "per_seed": {s: _test_record(t) for s, t in result.per_seed.items()},
                               "pooled": _test_record(result.pooled) if result.pooled else None}
    return record


def _test_record(test: stats.DeltaTest) -> dict:
    return {"delta": test.delta, "low": test.low, "high": test.high, "p": test.p_value, "n": test.n_units,
            "method": test.method}


def write_seed_summary(summary: SeedSummary, directory: str | Path, stem: str) -> dict[str, Path]:
    """``<stem>.seeds.md`` and ``<stem>.seeds.json`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"md": directory / f"{stem}.seeds.md", "json": directory / f"{stem}.seeds.json"}
    paths["md"].write_text(render_seed_markdown(summary), encoding="utf-8")
    paths["json"].write_text(json.dumps(summary_record(summary), indent=1), encoding="utf-8")
    return paths
