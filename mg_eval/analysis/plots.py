"""Leaderboard and ablation figures (matplotlib, PNG + SVG, sized for a paper).

* :func:`plot_leaderboard_bars` -- grouped bars per benchmark on the percent scale, with the points-scale
  columns (e.g. MME perception and cognition) in their own panel; our runs carry their bootstrap 95 % CI as
  error bars.
* :func:`plot_leaderboard_heatmap` -- every model x benchmark, coloured by the score normalised per
  benchmark (min-max over the models shown), annotated with the raw score; cells the paper leaves empty stay
  grey with "–".
* :func:`plot_ablation_deltas` -- one panel per metric: each row's Δ to its reference row with the paired
  95 % CI, the paper's Δ as a marker, rows whose p < 0.05 filled.

Figures are built on a bare :class:`matplotlib.figure.Figure` (no pyplot, no backend switch) inside a
``matplotlib.rc_context`` (fonts >= 7 pt), so importing or calling this module changes no global state.
Widths: 7.0 in (two columns) for the leaderboard figures, 3.3 in per column otherwise.

The columns, their order, headers and scales, and which score of a run fills them are the ``paper_columns`` the
benchmarks declare (``tasks/<benchmark>/benchmark.yaml``); nothing here names a benchmark.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from mg_eval.ablation.spec import parse_paper_value
from mg_eval.analysis import stats
from mg_eval.analysis.group_scores import group_scores_of
from mg_eval.analysis.units import declaration_of, unit_scores
from mg_eval.api import PROTOCOLS, PaperColumn
from mg_eval.errors import UserInputError
from mg_eval.results import Run, collect_runs, how_made, made_mark, newest_per
from mg_eval.tasks import find_benchmark, list_benchmarks, list_group_scores

DEFAULT_REFERENCE_ROWS = ("LLaVA-1.5 (Vicuna-7B)", "LLaVA-NeXT (Vicuna-7B)", "Mini-Gemini (Vicuna-7B)",
                          "Mini-Gemini-HD (Vicuna-7B)", "LLaVA-1.5 (Vicuna-13B)", "LLaVA-NeXT (Vicuna-13B)",
                          "Mini-Gemini (Vicuna-13B)", "Mini-Gemini-HD (Vicuna-13B)")
PAPER_STYLE = {
    "font.size": 7, "axes.titlesize": 8, "axes.labelsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "font.family": "DejaVu Sans", "axes.spines.top": False, "axes.spines.right": False,
    "svg.fonttype": "none", "savefig.bbox": "tight", "hatch.linewidth": 0.6,
}
OURS_COLOR = "#c0392b"
OURS_COLORS = (OURS_COLOR, "#4a235a", "#0e6655", "#7e5109", "#1b2631", "#78281f")
ZOO_COLOR = "#1f3a5f"
ZOO_MARKERS = ("D", "^", "s", "v", "P", "X", "o", "*")  # one per LLaVA Model Zoo row drawn
FULL_WIDTH_IN = 7.0
DEFAULT_DPI = 300
COLUMN_WIDTH_IN = 3.3


def leaderboard_columns() -> list[PaperColumn]:
    """Every declared paper column, in the paper's order (``position``), then one per group score (a group
    YAML's ``average:``, filled only where every member task has a full run)."""
    columns = sorted((column for b in list_benchmarks() for column in b.paper_columns), key=lambda c: c.position)
    last = columns[-1].position if columns else 0
    return columns + [PaperColumn(key=score.key, header=score.title, position=last + 1 + i, in_paper=False)
                      for i, score in enumerate(list_group_scores())]


def _headers() -> dict[str, str]:
    return {column.key: column.header for column in leaderboard_columns()}


def _points_columns() -> tuple[str, ...]:
    return tuple(column.key for column in leaderboard_columns() if column.scale == "points")


def _points_axis_label() -> str:
    labels = [b.axis_label or " / ".join(c.header for c in b.paper_columns if c.scale == "points")
              for b in list_benchmarks() if any(c.scale == "points" for c in b.paper_columns)]
    return "; ".join(labels)


@dataclass
class Entry:
    """One model's scores: ``values[column]``; ``intervals[column] = (low, high)`` where known."""

    label: str
    source: str  # "ours", "paper" (Table 1) or "zoo" (another published table, mg_eval/analysis/zoo.py)
    values: dict[str, float | None] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    manual: set[str] = field(default_factory=set)  # columns holding a test server's number added by hand
    made: str = ""  # how our runs were made (``results.made_mark``: backend, prompts, judge)

    def display(self, legend: bool = False) -> str:
        """The label a figure shows: ours with how they were made (``[backend · prompts · judge]``), the paper's
        rows marked ``[paper]``. ``legend``: the mark on a second line, and none for the paper's rows (the
        legend's title explains the solid bars), so the legend stays within the page width."""
        if self.source == "ours" and self.made:
            return f"{self.label}\n[{self.made}]" if legend else f"{self.label} [{self.made}]"
        return self.label if self.source != "paper" or legend else f"{self.label} [paper]"


def load_reference(path: str | Path) -> list[Entry]:
    """Entries of the paper's Table 1 CSV (``mg_eval/analysis/reference/paper_table1_leaderboard.csv``).

    Labels are ``"<method> (<llm>)"`` (private models: the method alone); marks like ``*`` are dropped from
    the numbers, empty cells stay ``None``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"reference table {path} does not exist; use mg_eval/analysis/reference/paper_table1_leaderboard.csv")
    entries = []
    columns = [column.key for column in leaderboard_columns() if column.in_paper]
    with open(path, encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [key for key in ("method", "llm", *columns) if key not in (reader.fieldnames or [])]
        if missing:
            raise UserInputError(f"{path}: missing column(s) {missing}; give a table in the layout of "
                                 "mg_eval/analysis/reference/paper_table1_leaderboard.csv")
        for line_no, row in enumerate(reader, start=2):
            llm = row["llm"] if row["llm"] and row["llm"] != "Private" else ""
            label = f"{row['method']} ({llm})" if llm else row["method"]
            values = {key: parse_paper_value(row[key], f"{path}:{line_no}: {key}").value for key in columns}
            entries.append(Entry(label=label, source="paper", values=values))
    if not entries:
        raise UserInputError(f"{path}: no rows; give the paper's table (or --no-reference)")
    return entries


def select_reference(entries: Sequence[Entry], labels: Sequence[str] | None,
                     default: Sequence[str] = DEFAULT_REFERENCE_ROWS) -> list[Entry]:
    """The entries named in ``labels`` (in that order; ``None`` = ``default``, the 7B/13B set, ``["all"]`` = all)."""
    if labels and list(labels) == ["all"]:
        return list(entries)
    wanted = list(labels) if labels else list(default)
    by_label = {entry.label: entry for entry in entries}
    unknown = [label for label in wanted if label not in by_label]
    if unknown:
        raise UserInputError(f"reference rows {unknown} are not in the table; known: {sorted(by_label)}")
    return [by_label[label] for label in wanted]


def collect_results(roots: Sequence[str | Path], n_resamples: int = stats.DEFAULT_RESAMPLES,
                    seed: int = stats.DEFAULT_SEED) -> list[Entry]:
    """One entry per model found under ``roots`` (newest run per task), with bootstrap 95 % CIs."""
    runs = collect_runs(roots, required="pass folders written by `mg-eval run`")
    newest = newest_per(runs, lambda run: (run_label(run.record), run.task))
    entries: dict[str, Entry] = {}
    judges: dict[str, list[str | None]] = {}
    records: dict[str, dict[str, dict]] = {}
    for (label, task), run in sorted(newest.items(), key=lambda item: item[0]):
        record = run.record
        made = how_made(record)
        entry = entries.setdefault(label, Entry(label=label, source="ours"))
        declaration = declaration_of(task, record["task"].get("benchmark"))
        if declaration is not None and declaration.judge is not None:
            judges.setdefault(label, []).append(made["judge"])
        entry.made = made_mark(str(made["backend"]), str(made["protocol"]), judges.get(label))
        _add_run(entry, run, record, task, n_resamples, seed)
        records.setdefault(label, {})[task] = record
    for label, entry in entries.items():  # a group score: only where every member has a full run (no CI)
        entry.values.update({score.key: value for score, value in group_scores_of(records[label]).items()})
    return list(entries.values())


def run_label(record: Mapping) -> str:
    """The entry a run belongs to: its model (whose folder name carries a non-default backend), the protocol
    when it is not the first of ``PROTOCOLS``, and ``(limited)`` for a run not for reporting. Runs of one
    model under two protocols are two entries, never mixed column by column."""
    protocol = str(record.get("protocol"))
    label = record["model"]["name"] + ("" if protocol == PROTOCOLS[0] else f" ({protocol})")
    return label + ("" if record.get("for_reporting", True) else " (limited)")


def _add_run(entry: Entry, run: Run, record: dict, task: str, n_resamples: int, seed: int) -> None:
    declaration = declaration_of(task, record["task"].get("benchmark"))
    if declaration is None:
        return
    samples = run.samples
    for column in declaration.paper_columns:
        if column.tasks and task not in column.tasks:
            continue  # e.g. the English dev column is not filled by the Chinese variant's runs
        value = record["scores"].get(column.score) if column.score else None
        if not isinstance(value, int | float) or not _has_samples_for(column, samples):
            continue
        entry.values[column.key] = float(value)
        if column.score in (record["scores"].get("manual_scores") or {}):
            entry.manual.add(column.key)  # `mg-eval results --add-server-score`: no units, no CI
            continue
        units = unit_scores(declaration, column.score, samples, record["scores"], source=str(run.path))
        if units is not None and units.n:
            interval = stats.bootstrap_ci(units, n_resamples, seed=seed)
            entry.intervals[column.key] = (interval.low, interval.high)


def _has_samples_for(column: PaperColumn, samples: Sequence[Mapping]) -> bool:
    """False for a column whose required samples the run does not contain (e.g. a total of absent sub-tasks)."""
    if column.requires_field is None:
        return True
    return any(sample.get(column.requires_field) in column.requires for sample in samples)


def _save(fig: Figure, stem: Path, dpi: int) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for path in paths:
        fig.savefig(path, dpi=dpi)
    return paths


def _colors(entries: Sequence[Entry]) -> list:
    """Our runs: dark, hatched colours; paper rows: tab10 (tab20 beyond ten rows)."""
    from matplotlib import colormaps

    n_paper = sum(entry.source == "paper" for entry in entries)
    palette = colormaps["tab20"].colors if n_paper > 10 else colormaps["tab10"].colors
    colors, k_ours, k_paper = [], 0, 0
    for entry in entries:
        if entry.source == "ours":
            colors.append(OURS_COLORS[k_ours % len(OURS_COLORS)])
            k_ours += 1
        else:
            colors.append(palette[k_paper % len(palette)])
            k_paper += 1
    return colors


def _bar_panel(ax, entries: Sequence[Entry], columns: Sequence[str], colors: Sequence[str]) -> None:
    n = len(entries)
    width = 0.8 / max(1, n)
    x = np.arange(len(columns))
    for i, (entry, color) in enumerate(zip(entries, colors)):
        heights = np.array([np.nan if entry.values.get(c) is None else entry.values[c] for c in columns])
        offsets = x - 0.4 + width * (i + 0.5)
        errors = _error_bars(entry, columns, heights)
        ax.bar(offsets, np.nan_to_num(heights), width, color=color, label=entry.display(legend=True), yerr=errors,
               error_kw={"elinewidth": 0.6, "capsize": 1.2, "ecolor": "black"},
               hatch="////" if entry.source == "ours" else None, edgecolor="white", linewidth=0.3)
        for offset, height, column in zip(offsets, heights, columns):
            if np.isnan(height):
                ax.text(offset, 0, "–", ha="center", va="bottom", fontsize=7, color="0.5")
            elif column in entry.manual:
                ax.text(offset, height, "S", ha="center", va="bottom", fontsize=6, color="0.2")
    headers = _headers()
    ax.set_xticks(x, [headers[c] for c in columns])
    ax.tick_params(axis="x", length=0)
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)


def _error_bars(entry: Entry, columns: Sequence[str], heights: np.ndarray) -> np.ndarray | None:
    if not entry.intervals:
        return None
    lower, upper = [], []
    for column, height in zip(columns, heights):
        low, high = entry.intervals.get(column, (height, height))
        lower.append(0.0 if np.isnan(height) else max(0.0, height - low))
        upper.append(0.0 if np.isnan(height) else max(0.0, high - height))
    return np.array([lower, upper])


def _marker_panel(ax, entries: Sequence[Entry], columns: Sequence[str]) -> None:
    """Reference points (``source="zoo"``): one open marker shape per model, over each column's bar group."""
    x = np.arange(len(columns))
    for k, entry in enumerate(entries):
        present = [(xi, entry.values[c]) for xi, c in zip(x, columns) if entry.values.get(c) is not None]
        if not present:
            continue
        xs, ys = (np.array(v, dtype=float) for v in zip(*present))
        spread = (k - (len(entries) - 1) / 2) * 0.07  # side by side, so equal numbers stay visible
        ax.scatter(xs + spread, ys, marker=ZOO_MARKERS[k % len(ZOO_MARKERS)], s=16, facecolors="white",
                   edgecolors=ZOO_COLOR, linewidths=0.9, zorder=3, label=entry.display(legend=True))


def _legend_handles(axes, entries: Sequence[Entry]) -> tuple[list, list[str]]:
    """Every panel's legend entries, once per label, in the order of ``entries`` (a reference may only have
    points-scale values, so one panel's handles are not enough)."""
    found: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            found.setdefault(label, handle)
    labels = [entry.display(legend=True) for entry in entries if entry.display(legend=True) in found]
    return [found[label] for label in labels], labels


def plot_leaderboard_bars(entries: Sequence[Entry], stem: str | Path, title: str | None = None, dpi: int = DEFAULT_DPI) -> list[Path]:
    """Grouped bars: percent-scale columns (left), points-scale columns on their own axis (right).

    Our runs and the paper's rows are bars; ``source="zoo"`` entries (LLaVA Model Zoo) are open markers over
    the columns their mapping covers.
    """
    if not entries:
        raise UserInputError("nothing to plot: no runs and no reference rows selected")
    bars = [entry for entry in entries if entry.source != "zoo"]
    points = [entry for entry in entries if entry.source == "zoo"]
    points_columns = _points_columns()
    percent = [c.key for c in leaderboard_columns() if c.key not in points_columns
               and any(e.values.get(c.key) is not None for e in entries)]
    points_shown = [c for c in points_columns if any(e.values.get(c) is not None for e in entries)]
    colors = _colors(bars)
    with rc_context(PAPER_STYLE):
        fig = Figure(figsize=(FULL_WIDTH_IN, 2.4 + 0.12 * math.ceil(len(entries) / 4)), layout="constrained")
        ratios = [max(1, len(percent)), max(1, len(points_shown)) * 0.9] if points_shown and percent else [1]
        axes = fig.subplots(1, len(ratios), gridspec_kw={"width_ratios": ratios}, squeeze=False)[0]
        if percent:
            _bar_panel(axes[0], bars, percent, colors)
            _marker_panel(axes[0], points, percent)
            axes[0].set_ylabel("score (%)")
            axes[0].set_ylim(0, 100)
        if points_shown:
            ax = axes[-1]
            _bar_panel(ax, bars, points_shown, colors)
            _marker_panel(ax, points, points_shown)
            ax.set_ylabel(_points_axis_label())
            ax.set_ylim(0, None)
        handles, labels = _legend_handles(axes, bars + points)
        legend_title = ("hatched: our runs [backend · prompts · judge] (95% bootstrap CI); solid: the paper, as "
                        "published\n–: not reported; S: test-server score added by hand")
        if points:
            legend_title += "\nopen markers: LLaVA Model Zoo, on the columns a source ties to ours"
        ncol = min(3 if points else 4, len(entries))  # the zoo's labels are long: 3 columns fit 7 in
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False, title=legend_title,
                   title_fontsize=7)
        if title:
            fig.suptitle(title)
        return _save(fig, Path(stem), dpi)


def plot_leaderboard_heatmap(entries: Sequence[Entry], stem: str | Path, title: str | None = None, dpi: int = DEFAULT_DPI) -> list[Path]:
    """Models x benchmarks, colour = score normalised per benchmark over the models shown, text = raw score."""
    if not entries:
        raise UserInputError("nothing to plot: no runs and no reference rows selected")
    headers, points_columns = _headers(), _points_columns()
    columns = [c for c in headers if any(e.values.get(c) is not None for e in entries)]
    raw = np.array([[np.nan if e.values.get(c) is None else e.values[c] for c in columns] for e in entries])
    normalised = _normalise_columns(raw)
    with rc_context(PAPER_STYLE):
        fig = Figure(figsize=(FULL_WIDTH_IN, 0.9 + 0.19 * len(entries)), layout="constrained")
        ax = fig.subplots()
        cmap = _heat_cmap()
        image = ax.imshow(np.ma.masked_invalid(normalised), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(raw):
            text = "–" if np.isnan(value) else (f"{value:.0f}" if columns[j] in points_columns else f"{value:.1f}")
            shade = normalised[i, j]
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if not np.isnan(shade) and shade < 0.45 else "black")
        ax.set_xticks(range(len(columns)), [headers[c] for c in columns], rotation=30, ha="left",
                      rotation_mode="anchor")
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(entries)), [e.display() for e in entries])
        for tick, entry in zip(ax.get_yticklabels(), entries):
            if entry.source == "ours":
                tick.set_color(OURS_COLOR)
                tick.set_fontweight("bold")
            elif entry.source == "zoo":
                tick.set_color(ZOO_COLOR)
                tick.set_fontstyle("italic")
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
        bar.set_label("score, min-max normalised per benchmark")
        if title:
            ax.set_title(title)
        return _save(fig, Path(stem), dpi)


def _normalise_columns(raw: np.ndarray) -> np.ndarray:
    """Min-max per column over the non-missing values; a constant column maps to 0.5."""
    out = np.full(raw.shape, np.nan)
    for j in range(raw.shape[1]):
        column = raw[:, j]
        present = ~np.isnan(column)
        if not present.any():
            continue
        low, high = column[present].min(), column[present].max()
        out[present, j] = 0.5 if high == low else (column[present] - low) / (high - low)
    return out


def _heat_cmap():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="0.92")


@dataclass
class DeltaRow:
    """One ablation row for the delta plot (values per metric key)."""

    label: str
    section: str
    delta: dict[str, float | None]
    low: dict[str, float | None]
    high: dict[str, float | None]
    p_value: dict[str, float | None]
    paper_delta: dict[str, float | None]


def load_ablation_csv(path: str | Path) -> tuple[list[str], list[DeltaRow]]:
    """Metric keys and rows of a table written by ``mg-eval ablate`` (``<spec>.csv``).

    Rows that share a label (e.g. two "+ Larger VE-HR") get the setting values that tell them apart appended.
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"ablation table {path} does not exist; run `mg-eval ablate SPEC` first")
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "label" not in rows[0]:
        raise UserInputError(f"{path}: not an ablation table written by `mg-eval ablate`")
    columns = list(rows[0])
    metrics = [key[: -len("_paper_delta")] for key in columns if key.endswith("_paper_delta")]
    settings = columns[columns.index("for_reporting") + 1: columns.index(metrics[0])] if metrics else []
    labels = _distinct_labels(rows, settings)

    def number(row: Mapping[str, str], key: str) -> float | None:
        text = row.get(key, "")
        try:
            return float(text) if text else None
        except ValueError:
            return None  # "pending" and other statuses

    return metrics, [DeltaRow(
        label=label, section=row.get("section", ""),
        delta={m: number(row, f"{m}_delta") for m in metrics},
        low={m: number(row, f"{m}_delta_ci_low") for m in metrics},
        high={m: number(row, f"{m}_delta_ci_high") for m in metrics},
        p_value={m: number(row, f"{m}_p_value") for m in metrics},
        paper_delta={m: number(row, f"{m}_paper_delta") for m in metrics},
    ) for row, label in zip(rows, labels)]


def _distinct_labels(rows: Sequence[Mapping[str, str]], settings: Sequence[str]) -> list[str]:
    labels = []
    for row in rows:
        twins = [other for other in rows if other["label"] == row["label"]]
        differing = [key for key in settings if len({other[key] for other in twins}) > 1]
        suffix = ", ".join(row[key] for key in differing)
        labels.append(f"{row['label']} ({suffix})" if suffix else row["label"])
    return labels


def plot_ablation_deltas(metrics: Sequence[str], rows: Sequence[DeltaRow], stem: str | Path,
                         title: str | None = None, dpi: int = DEFAULT_DPI) -> list[Path]:
    """One panel per metric (each on its own scale): Δ with 95 % CI per row, paper's Δ as a diamond."""
    shown = [row for row in rows if any(row.delta[m] is not None or row.paper_delta[m] is not None for m in metrics)]
    if not shown:
        raise UserInputError("no row has a Δ (ours or the paper's) to plot")
    with rc_context(PAPER_STYLE):
        width = COLUMN_WIDTH_IN if len(metrics) == 1 else FULL_WIDTH_IN
        fig = Figure(figsize=(width, 1.0 + 0.22 * len(shown)), layout="constrained")
        axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
        y = np.arange(len(shown))[::-1]
        for ax, metric in zip(axes, metrics):
            _delta_panel(ax, metric, shown, y)
        axes[0].set_yticks(y, [row.label for row in shown])
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
        if title:
            fig.suptitle(title)
        return _save(fig, Path(stem), dpi)


def _delta_panel(ax, metric: str, rows: Sequence[DeltaRow], y: np.ndarray) -> None:
    ax.axvline(0, color="0.4", linewidth=0.6)
    for yi, row in zip(y, rows):
        delta = row.delta[metric]
        if delta is not None:
            low = row.low[metric] if row.low[metric] is not None else delta
            high = row.high[metric] if row.high[metric] is not None else delta
            significant = row.p_value[metric] is not None and row.p_value[metric] < 0.05
            ax.errorbar(delta, yi, xerr=[[delta - low], [high - delta]], fmt="o", markersize=3.5, color=OURS_COLOR,
                        markerfacecolor=OURS_COLOR if significant else "white", elinewidth=0.8, capsize=1.5,
                        label="ours: Δ, 95% CI (filled: p<0.05)")
        if row.paper_delta[metric] is not None:
            ax.plot(row.paper_delta[metric], yi, "D", markersize=3.5, color="#2c3e50", label="paper Δ")
    for yi, (upper, lower) in zip(y[1:], zip(rows[:-1], rows[1:])):
        if upper.section != lower.section:
            ax.axhline(yi + 0.5, color="0.6", linewidth=0.5, linestyle="--")
    declaration = find_benchmark(metric)  # ablation metric keys name their benchmark (or an alias)
    ax.set_title(declaration.title if declaration is not None else metric)
    ax.set_xlabel(f"Δ to previous row ({declaration.delta_unit if declaration is not None else 'points'})")
    ax.grid(axis="x", linewidth=0.4, alpha=0.5)
    _dedupe_legend(ax)


def _dedupe_legend(ax) -> None:
    """Keep one legend entry per label (errorbar/plot were called once per row)."""
    seen = set()
    for artist in list(ax.lines) + list(ax.containers):
        label = artist.get_label()
        if label in seen:
            artist.set_label("_" + label)
        seen.add(label)
