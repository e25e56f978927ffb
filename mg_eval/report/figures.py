"""Figures of the report: sub-score breakdowns (one horizontal bar chart per breakdown), the
leaderboard figures of ``mg-eval plot`` and its training curves (``--curve``).

Drawn on a bare :class:`matplotlib.figure.Figure` inside ``rc_context`` (no pyplot, no global state), saved
as PNG only: an SVG carries namespace URLs, and the report's files must name no external address.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure

from mg_eval.analysis import plots
from mg_eval.analysis.zoo import DEFAULT_ZOO_ROWS
from mg_eval.report.collect import Breakdown

FIGURE_DPI = 110
FIGURE_DPI_LEADERBOARD = 150
_BAR_COLOR = "#2e6f9e"
_MAX_BARS = 60


def breakdown_figure(breakdown: Breakdown, path: Path) -> Path:
    """A horizontal bar per label (largest first, at most 60), the value printed at each bar's end."""
    items = sorted(breakdown.values.items(), key=lambda item: -item[1])[:_MAX_BARS]
    labels = [label if len(label) <= 38 else label[:36] + "…" for label, _ in items]
    values = [value for _, value in items]
    with rc_context(plots.PAPER_STYLE):
        fig = Figure(figsize=(5.2, 0.6 + 0.17 * len(items)), layout="constrained")
        ax = fig.subplots()
        positions = list(range(len(items)))[::-1]
        ax.barh(positions, values, color=_BAR_COLOR, height=0.7)
        ax.set_yticks(positions, labels)
        top = max([abs(v) for v in values] + [0.0]) or 1.0  # all zero: a unit axis, not 1e-9
        for y, value in zip(positions, values):
            ax.text(value + 0.01 * top, y, f"{value:.4g}", va="center", fontsize=6.5)
        ax.set_xlim(min(0.0, min(values)), top * 1.15)
        ax.set_title(breakdown.name)
        ax.grid(axis="x", linewidth=0.4, alpha=0.5)
        ax.set_axisbelow(True)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=FIGURE_DPI)
    return path


def leaderboard_figures(ours: Sequence[plots.Entry], reference: Sequence[plots.Entry], out_dir: Path,
                        zoo: Sequence[plots.Entry] = ()) -> list[Path]:
    """``mg-eval plot``'s grouped bars (ours + the paper's default rows + the default LLaVA Model Zoo markers)
    and heat map (ours + every paper and zoo row).

    Returns the PNG paths (the SVG copies ``plots`` also writes are removed, see the module docstring).
    """
    written: list[Path] = []
    if not ours and not reference:
        return written
    bars = list(ours) + (plots.select_reference(reference, None) if reference else [])
    bars += plots.select_reference(zoo, None, DEFAULT_ZOO_ROWS) if zoo else []
    written += plots.plot_leaderboard_bars(bars, out_dir / "leaderboard_bars", None, FIGURE_DPI_LEADERBOARD)
    written += plots.plot_leaderboard_heatmap(list(ours) + list(reference) + list(zoo),
                                              out_dir / "leaderboard_heatmap", None, FIGURE_DPI_LEADERBOARD)
    pngs = []
    for path in written:
        if path.suffix == ".svg":
            path.unlink(missing_ok=True)
        else:
            pngs.append(path)
    return pngs


def training_curve_figure(views: Sequence[Any], out_dir: Path) -> list[Path]:
    """``mg-eval plot --curve``'s figure (score against training step) when the results hold training
    checkpoints; PNG only (see the module docstring). Empty list otherwise."""
    from mg_eval.analysis import curves

    points = curves.curve_points(views)
    if not points:
        return []
    path = out_dir / "training_curves.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    curves.draw_curves(points).savefig(path, dpi=FIGURE_DPI_LEADERBOARD)
    return [path]
