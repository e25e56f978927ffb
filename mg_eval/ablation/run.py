"""Evaluating the rows of an ablation spec: each built row through the engine, into ``<out>/runs/<row id>/``.

This is the part of the ablation flow that runs models (``mg-eval ablate``); the spec format is
:mod:`mg_eval.ablation.spec`, the tables and figures over the runs are in :mod:`mg_eval.analysis`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mg_eval.ablation.spec import AblationRow, AblationSpec
from mg_eval.api import RunOptions
from mg_eval.errors import UserInputError
from mg_eval.results import Run, collect_runs, newest_per, open_run

__all__ = ["RUNS_DIR", "RowOutcome", "check_tasks", "find_row_runs", "row_results_root", "run_ablation"]

RUNS_DIR = "runs"


@dataclass(frozen=True)
class RowOutcome:
    """What :func:`run_ablation` did for one row."""

    row_id: str
    status: str                    # "evaluated", "up to date", "pending" (no checkpoint)
    evaluated_tasks: tuple[str, ...] = ()


def row_results_root(output_dir: str | Path, row: AblationRow) -> Path:
    """Where the engine writes a row's runs: ``<output_dir>/runs/<row id>/<model>/<task>/<run_id>/``."""
    return Path(output_dir) / RUNS_DIR / row.id


def find_row_runs(spec: AblationSpec, output_dir: str | Path,
                  limit: int | None = None) -> dict[str, dict[str, Path]]:
    """The newest matching run per (row, task): ``{row_id: {task_name: run_dir}}``.

    A run matches when its task is one of the spec's, its protocol is the spec's, and its ``limit`` equals
    ``limit`` (so a quick ``--limit`` table never mixes with full runs).
    """
    def matches(run: Run) -> bool:
        return run.task in spec.tasks and run.protocol == spec.protocol and run.record["limit"] == limit

    found: dict[str, dict[str, Path]] = {}
    for row in spec.rows:
        newest = newest_per(collect_runs(row_results_root(output_dir, row), matches), lambda run: run.task)
        if newest:
            found[row.id] = {task: run.path for task, run in newest.items()}
    return found


def _stale_tasks(row: AblationRow, runs: dict[str, Path], tasks: list[str],
                 checkpoint_root: str | Path | None) -> list[str]:
    """Tasks without a run, or whose run was made from other weights than the checkpoint's current ones."""
    from mg_eval.models.hashing import weights_hash

    current = weights_hash(row.checkpoint_path(checkpoint_root))
    return [task for task in tasks
            if task not in runs or open_run(runs[task]).record["model"].get("weights_hash") != current]


def run_ablation(spec: AblationSpec, output_dir: str | Path, *, options: RunOptions | None = None,
                 checkpoint_root: str | Path | None = None, rows: list[str] | None = None,
                 evaluate_fn: Any = None) -> list[RowOutcome]:
    """Evaluate every row whose checkpoint exists on the spec's tasks, through the engine.

    Resumable at two levels: a (row, task) whose newest run was made from the checkpoint's current weights is
    not run again, and an interrupted evaluation resumes from the engine's prediction store. Rows whose
    checkpoint does not exist are reported ``pending`` (no error).

    Args:
        spec: the loaded spec.
        output_dir: root of the ablation's results (runs go to ``<output_dir>/runs/<row id>/``).
        checkpoint_root: base for relative checkpoint paths (default: the current directory).
        options: the engine's run settings (``mg-eval ablate`` builds them from its flags; default
            ``RunOptions()``); each row runs with the spec's protocol and its own results root.
        rows: only these row ids (default: all).
        evaluate_fn: the evaluate function (default: the engine's; tests pass a fake).
    """
    if evaluate_fn is None:
        from mg_eval.engine.runner import evaluate as evaluate_fn
    check_tasks(spec)
    selected = _select_rows(spec, rows)
    options = options or RunOptions()
    existing = find_row_runs(spec, output_dir, options.limit)
    outcomes = []
    for row in selected:
        if not row.checkpoint_exists(checkpoint_root):
            outcomes.append(RowOutcome(row.id, "pending"))
            continue
        todo = _stale_tasks(row, existing.get(row.id, {}), spec.tasks, checkpoint_root)
        if todo:
            row_options = dataclasses.replace(options, protocol=spec.protocol,
                                              output_dir=str(row_results_root(output_dir, row)))
            evaluate_fn(str(row.checkpoint_path(checkpoint_root)), todo, options=row_options)
        outcomes.append(RowOutcome(row.id, "evaluated" if todo else "up to date", tuple(todo)))
    return outcomes


def check_tasks(spec: AblationSpec) -> None:
    """Every metric column's task is registered (UserInputError with close matches), before any model runs."""
    from mg_eval.tasks import get_task

    for metric in spec.metrics:
        try:
            get_task(metric.task)
        except UserInputError as exc:
            raise UserInputError(f"{spec._where()}: metric {metric.key!r}: {exc}") from None


def _select_rows(spec: AblationSpec, row_ids: list[str] | None) -> list[AblationRow]:
    return spec.select(row_ids)
