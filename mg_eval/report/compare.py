"""Checkpoint A vs checkpoint B: flipped samples per task and the paired significance of each Δ.

A sample is *right* when its outcome is full credit (``>= 1``), *wrong* when it is graded and not right.
It *flipped* when it is graded in both runs and right in exactly one. Ungraded samples never flip.
Δ = score(B) - score(A) with the paired bootstrap of :mod:`mg_eval.analysis.stats` (units paired by id,
the unit each benchmark's score is built from, see :mod:`mg_eval.analysis.units`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from mg_eval.analysis import stats, units
from mg_eval.errors import DataError, UserInputError
from mg_eval.report.collect import RIGHT, RunView, flat_scores, is_number, score_units
from mg_eval.results import newest_per


@dataclass
class DeltaRow:
    """One score key of one task: A, B, Δ and its paired test (``note`` says why there is no test)."""

    key: str
    a: float | None
    b: float | None
    test: stats.DeltaTest | None = None
    note: str = ""


@dataclass
class TaskComparison:
    """The newest runs of A and B on one (task, protocol), their deltas and flipped doc ids."""

    task: str
    protocol: str
    run_a: RunView
    run_b: RunView
    deltas: list[DeltaRow] = field(default_factory=list)
    a_only_right: list[str] = field(default_factory=list)   # A right, B wrong
    b_only_right: list[str] = field(default_factory=list)   # A wrong, B right
    n_paired: int = 0


def is_right(outcome: float | None) -> bool | None:
    """True / False for a graded outcome, ``None`` for an ungraded one."""
    return None if outcome is None else outcome >= RIGHT


def flipped(run_a: RunView, run_b: RunView) -> tuple[list[str], list[str], int]:
    """(A right & B wrong, A wrong & B right, number of samples graded in both), in A's sample order."""
    a_only, b_only, paired = [], [], 0
    for doc_id, outcome in run_a.outcomes.items():
        right_a, right_b = is_right(outcome), is_right(run_b.outcomes.get(doc_id))
        if right_a is None or right_b is None:
            continue
        paired += 1
        if right_a and not right_b:
            a_only.append(doc_id)
        elif right_b and not right_a:
            b_only.append(doc_id)
    return a_only, b_only, paired


def newest_runs(views: Sequence[RunView], model: str) -> dict[tuple[str, str], RunView]:
    """The newest run of ``model`` per (task, protocol)."""
    return newest_per([view for view in views if view.model == model], lambda view: (view.task, view.protocol))


def check_models(views: Sequence[RunView], a: str, b: str) -> None:
    """``UserInputError`` naming the unknown model(s) and the known ones (with close matches)."""
    known = sorted({view.model for view in views})
    for name in (a, b):
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UserInputError(f"--compare: no runs of model {name!r} under the results root{hint}; "
                                 f"models there: {', '.join(known)}")
    if a == b:
        raise UserInputError(f"--compare needs two different models, got {a!r} twice")


def compare_models(views: Sequence[RunView], a: str, b: str, n_resamples: int, seed: int) -> list[TaskComparison]:
    """One :class:`TaskComparison` per (task, protocol) both models ran (tasks with flips first);
    ``UserInputError`` if they share none."""
    check_models(views, a, b)
    runs_a, runs_b = newest_runs(views, a), newest_runs(views, b)
    shared = sorted(set(runs_a) & set(runs_b))
    if not shared:
        raise UserInputError(f"--compare: models {a!r} and {b!r} share no (task, protocol); "
                             f"{a} ran {sorted(runs_a)}, {b} ran {sorted(runs_b)}")
    out = []
    for task, protocol in shared:
        run_a, run_b = runs_a[(task, protocol)], runs_b[(task, protocol)]
        a_only, b_only, paired = flipped(run_a, run_b)
        out.append(TaskComparison(task, protocol, run_a, run_b, delta_rows(run_a, run_b, n_resamples, seed),
                                  a_only, b_only, paired))
    return sorted(out, key=lambda item: (not (item.a_only_right or item.b_only_right), item.task))


def _keys_with_units(run: RunView) -> list[str]:
    """The primary metric first, then every other flat score the benchmark resamples by units."""
    primary = run.record.get("primary_metric")
    keys = [primary] if primary else []
    for key in flat_scores(run.record["scores"]):
        if key != primary and _has_unit_form(run, key):
            keys.append(key)
    return keys


def _has_unit_form(run: RunView, key: str) -> bool:
    try:
        return units.unit_scores(run.benchmark, key, run.samples, run.record["scores"], str(run.path)) is not None
    except DataError:
        return False


def delta_rows(run_a: RunView, run_b: RunView, n_resamples: int, seed: int) -> list[DeltaRow]:
    """Δ for the primary metric and every unit-based sub-score, each with its paired bootstrap."""
    rows = []
    for key in _keys_with_units(run_a):
        value_a, value_b = run_a.record["scores"].get(key), run_b.record["scores"].get(key)
        row = DeltaRow(key, value_a if is_number(value_a) else None, value_b if is_number(value_b) else None)
        if row.a is None or row.b is None:
            row.note = "not scored in both runs (a judge was needed?)"
        else:
            row.test, row.note = _paired_test(run_a, run_b, key, n_resamples, seed)
        rows.append(row)
    return rows


def _paired_test(run_a: RunView, run_b: RunView, key: str, n_resamples: int,
                 seed: int) -> tuple[stats.DeltaTest | None, str]:
    units_a, units_b = score_units(run_a, key), score_units(run_b, key)
    if units_a is None or units_b is None or not units_a.n:
        return None, "no per-unit outcomes for a paired test"
    try:
        return stats.paired_bootstrap(units_a, units_b, n_resamples, seed=seed), ""
    except DataError as exc:
        return None, str(exc)

