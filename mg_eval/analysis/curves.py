"""Score against training step: one panel per task, one line per training run with its bootstrap CI band,
chosen models (the released checkpoint, another run's step) as horizontal references.

The points are the runs whose ``results.json`` has ``model.training`` (written by ``mg-eval run`` on training
checkpoints and by ``mg-eval watch``): x = ``training.step``, y = the task's primary metric, band = the
percentile bootstrap CI of the report (:func:`mg_eval.report.collect.primary_interval`). Runs of one training
run are those with the same ``config_hash`` and run folder; of several evaluations of one (run, step, task,
protocol) the newest counts. Drawn on a bare ``Figure`` in ``rc_context`` like :mod:`mg_eval.analysis.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mg_eval.analysis.plots import COLUMN_WIDTH_IN, DEFAULT_DPI, OURS_COLORS, PAPER_STYLE, _save
from mg_eval.errors import UserInputError
from mg_eval.results import newest_per

REFERENCE_COLORS = ("#555555", "#1f3a5f", "#7e5109", "#0e6655")


@dataclass(frozen=True)
class CurvePoint:
    """One evaluated checkpoint: ``value`` (primary metric) at ``step``, CI ``low``..``high`` where known."""

    run: str  # the training run's label: run folder name (+ short config hash when two runs share a name)
    task: str
    metric: str
    step: int
    value: float
    low: float | None
    high: float | None
    final: bool = False


@dataclass(frozen=True)
class ReferenceLine:
    """A horizontal line in a task's panel: ``label`` scored ``value`` there."""

    label: str
    task: str
    value: float


def _run_key(training: dict[str, Any]) -> tuple[str, str]:
    return str(Path(str(training.get("run_dir") or "run")).name), str(training.get("config_hash") or "")


def _newest(views: Sequence[Any]) -> list[Any]:
    """The newest view per (model, task, protocol), in the order of their oldest runs."""
    by_time = sorted(views, key=lambda view: view.run_id)
    return list(newest_per(by_time, lambda view: (view.model, view.task, view.protocol)).values())


def curve_points(views: Sequence[Any], runs: Sequence[str] = ()) -> list[CurvePoint]:
    """The points of every training checkpoint among ``views`` (report ``RunView``s), by run, task and step.

    ``runs``: keep only training runs whose folder name or config hash (prefix) is listed.
    """
    chosen = [view for view in _newest(views) if view.record["model"].get("training") and view.primary[0] is not None]
    keys = {_run_key(view.record["model"]["training"]) for view in chosen}
    names = [name for name, _ in keys]
    several_protocols = len({view.protocol for view in chosen}) > 1
    points = []
    for view in chosen:
        training = view.record["model"]["training"]
        name, digest = _run_key(training)
        if runs and not any(item in (name, digest) or (item and digest.removeprefix("sha256:").startswith(item))
                            for item in runs):
            continue
        label = name if names.count(name) == 1 else f"{name} ({digest.removeprefix('sha256:')[:8] or 'no hash'})"
        label += f" [{view.protocol}]" if several_protocols else ""
        value, interval = view.primary
        points.append(CurvePoint(label, view.task, str(view.record.get("primary_metric")), int(training["step"]),
                                 float(value), interval.low if interval else None, interval.high if interval else None,
                                 bool(training.get("final"))))
    return sorted(points, key=lambda p: (p.task, p.run, p.step))


def reference_lines(views: Sequence[Any], models: Sequence[str]) -> list[ReferenceLine]:
    """The primary score of each named model (a released checkpoint, a run's step) per task it was run on."""
    lines = []
    available = sorted({view.model for view in views})
    for model in models:
        found = [view for view in _newest(views) if view.model == model and view.primary[0] is not None]
        if not found:
            raise UserInputError(f"--curve-reference {model}: no run of that model in the results; models there: "
                                 f"{', '.join(available[:12])}")
        lines += [ReferenceLine(model, view.task, float(view.primary[0])) for view in found]
    return lines


def draw_curves(points: Sequence[CurvePoint], references: Sequence[ReferenceLine] = (),
                title: str | None = None) -> Figure:
    """One panel per task: a line + CI band per training run, dashed lines for the references."""
    tasks = sorted({point.task for point in points})
    if not tasks:
        raise UserInputError("no evaluated training checkpoints to draw (no results.json with model.training): "
                             "evaluate a run with `mg-eval run --model RUN_DIR` or `mg-eval watch RUN_DIR` first")
    runs = sorted({point.run for point in points})
    columns = min(3, len(tasks))
    rows = (len(tasks) + columns - 1) // columns
    with rc_context(PAPER_STYLE):
        fig = Figure(figsize=(COLUMN_WIDTH_IN * columns, 2.3 * rows + 0.4), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for ax, task in zip(axes, tasks):
            _task_panel(ax, task, [p for p in points if p.task == task], runs,
                        [line for line in references if line.task == task])
        for ax in axes[len(tasks):]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
    return fig


def _task_panel(ax: Any, task: str, points: Sequence[CurvePoint], runs: Sequence[str],
                references: Sequence[ReferenceLine]) -> None:
    for index, run in enumerate(runs):
        mine = sorted((p for p in points if p.run == run), key=lambda p: p.step)
        if not mine:
            continue
        color = OURS_COLORS[index % len(OURS_COLORS)]
        steps = [p.step for p in mine]
        ax.plot(steps, [p.value for p in mine], marker="o", markersize=3, linewidth=1.2, color=color, label=run)
        banded = [p for p in mine if p.low is not None and p.high is not None]
        if banded:
            ax.fill_between([p.step for p in banded], [p.low for p in banded], [p.high for p in banded],
                            color=color, alpha=0.18, linewidth=0, label=f"{run} 95 % CI")
    for index, line in enumerate(references):
        ax.axhline(line.value, linestyle="--", linewidth=1.0, color=REFERENCE_COLORS[index % len(REFERENCE_COLORS)],
                   label=line.label)
    ax.set_title(task)
    ax.set_xlabel("training step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(points[0].metric if points else "score")
    ax.grid(linewidth=0.4, alpha=0.5)
    ax.legend(loc="best", frameon=False)


def plot_curves(points: Sequence[CurvePoint], stem: str | Path, references: Sequence[ReferenceLine] = (),
                title: str | None = None, dpi: int = DEFAULT_DPI) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.svg``; returns their paths."""
    return _save(draw_curves(points, references, title), Path(stem), dpi)
