"""The leaderboard: our runs beside the paper's Table 1, in the columns of ``mg-eval plot``.

Which score of which task fills which column is :func:`mg_eval.analysis.plots.collect_results`'s business
(called on one run at a time); this module only groups runs into rows and keeps, per cell, the run it came
from and whether that run may be reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mg_eval.analysis import plots, zoo
from mg_eval.analysis.group_scores import group_scores_of
from mg_eval.report.collect import RunView
from mg_eval.results import how_made


@dataclass
class Cell:
    """One leaderboard number: value, 95 % CI (None where there is none), the run, why not reportable."""

    value: float | None
    low: float | None = None
    high: float | None = None
    run_slug: str | None = None
    not_for_reporting: list[str] = field(default_factory=list)


@dataclass
class Row:
    """One leaderboard row: ours (one per model, protocol and limited/full) or a paper row."""

    label: str
    source: str  # "ours" | "paper" | "zoo" (LLaVA Model Zoo)
    protocol: str = ""
    backend: str = ""  # ours: the backend that made the runs (results.json backend.name)
    judges: list[str] = field(default_factory=list)
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def not_for_reporting(self) -> bool:
        return any(cell.not_for_reporting for cell in self.cells.values())

    def entry(self) -> plots.Entry:
        """The row as a :class:`plots.Entry` (for the figures)."""
        values = {key: cell.value for key, cell in self.cells.items()}
        intervals = {key: (cell.low, cell.high) for key, cell in self.cells.items()
                     if cell.low is not None and cell.high is not None}
        return plots.Entry(self.label, self.source, values, intervals)


def our_rows(views: Sequence[RunView], n_resamples: int, seed: int) -> list[Row]:
    """One row per (model, backend, protocol, limited or not); each column from the newest run that fills it."""
    rows: dict[tuple[str, str, str, bool], Row] = {}
    newest: dict[tuple[str, str, str, bool], dict[str, dict]] = {}
    for view in sorted(views, key=lambda v: v.run_id):
        limited = view.record.get("limit") is not None
        backend = str(how_made(view.record)["backend"])
        key = (view.model, backend, view.protocol, limited)
        row = rows.setdefault(key, Row(view.model + (" (limited)" if limited else ""), "ours", view.protocol,
                                       backend))
        newest.setdefault(key, {})[view.task] = view.record
        judge = view.record.get("judge") or "no judge"
        if judge not in row.judges:
            row.judges.append(judge)
        for entry in plots.collect_results([view.path], n_resamples, seed):
            for column, value in entry.values.items():
                low, high = entry.intervals.get(column, (None, None))
                row.cells[column] = Cell(value, low, high, view.slug, view.not_for_reporting)
    for key, row in rows.items():  # a group score: only where every member's newest run is a full run
        row.cells.update({score.key: Cell(value) for score, value in group_scores_of(newest[key]).items()})
    return [rows[key] for key in sorted(rows)]


def paper_rows(reference: str | Path | None) -> list[Row]:
    """The paper's Table 1 rows (empty when ``reference`` is None)."""
    if reference is None:
        return []
    return [Row(entry.label, "paper", cells={k: Cell(v) for k, v in entry.values.items()})
            for entry in plots.load_reference(reference)]


def zoo_rows(include: bool) -> list[Row]:
    """The LLaVA Model Zoo rows, mapped columns only (``mg_eval.analysis.zoo``; empty when not ``include``)."""
    if not include:
        return []
    return [Row(entry.label, "zoo", cells={k: Cell(v) for k, v in entry.values.items()}) for entry in zoo.load_zoo()]


def columns(rows: Sequence[Row]) -> dict[str, str]:
    """The leaderboard columns (``mg-eval plot``'s order) that any row fills: key -> header."""
    return {column.key: column.header for column in plots.leaderboard_columns()
            if any(row.cells.get(column.key) is not None and row.cells[column.key].value is not None for row in rows)}
