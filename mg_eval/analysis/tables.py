"""Ablation tables in the paper's layout, with intervals and p-values, as markdown, LaTeX and CSV.

:func:`build_table` turns an :class:`~mg_eval.ablation.spec.AblationSpec` plus the run directories of
its rows (``results.json`` + ``samples.jsonl``) into an :class:`AblationTable`: for every row and metric
column our score with its bootstrap 95 % CI, Δ to the reference row (the previous row of the section) with
the paired test's CI and p-value, and the paper's number and Δ beside it. Rows with no run show as
*pending* (checkpoint not built yet) or *not evaluated* (checkpoint exists, no run yet), never as failures.

:func:`render_markdown`, :func:`render_latex` and :func:`render_csv` are pure string renderers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mg_eval.ablation.spec import AblationRow, AblationSpec, MetricColumn, PaperValue
from mg_eval.analysis import stats
from mg_eval.analysis.units import declaration_of, matching_mean_units, unit_scores
from mg_eval.errors import DataError
from mg_eval.results import Run, open_run, run_files

PENDING = "pending"          # checkpoint not built yet
NOT_EVALUATED = "not evaluated"  # checkpoint exists, no results yet
MISSING_SCORE = "no score"   # run exists but lacks this score key
UNGRADED = "ungraded"        # the score needs a judge and none graded the samples
SIGNIFICANCE = 0.05
_REPORTED_ROUNDING = 0.05 + 1e-9  # some official graders report a total rounded to one decimal


@dataclass(frozen=True)
class StatsSettings:
    """How intervals and tests are computed (recorded under every table)."""

    n_resamples: int = stats.DEFAULT_RESAMPLES
    confidence: float = stats.DEFAULT_CONFIDENCE
    seed: int = stats.DEFAULT_SEED
    test: str = "bootstrap"  # or "permutation"


@dataclass(frozen=True)
class Cell:
    """One (row, metric) cell: our score, its CI, the Δ test, and the paper's value and Δ."""

    status: str                      # "ok", PENDING, NOT_EVALUATED, MISSING_SCORE
    value: float | None = None
    interval: stats.Interval | None = None
    delta: stats.DeltaTest | None = None
    delta_plain: float | None = None  # Δ without a test (when samples cannot be paired)
    paper: PaperValue = PaperValue(None)
    paper_delta: float | None = None
    note: str = ""


@dataclass(frozen=True)
class TableRow:
    """A spec row with its cells (keyed by metric key) and where its runs came from."""

    row: AblationRow
    cells: Mapping[str, Cell]
    status: str
    run_dirs: Mapping[str, str] = field(default_factory=dict)
    for_reporting: bool = True


@dataclass(frozen=True)
class AblationTable:
    """Everything a renderer needs."""

    spec: AblationSpec
    rows: tuple[TableRow, ...]
    settings: StatsSettings
    notes: tuple[str, ...] = ()


def build_table(spec: AblationSpec, row_runs: Mapping[str, Mapping[str, str | Path]],
                settings: StatsSettings | None = None, checkpoint_root: str | Path | None = None) -> AblationTable:
    """Compute every cell of ``spec``'s table.

    Args:
        spec: the ablation spec.
        row_runs: ``{row_id: {task_name: run_dir}}``; rows or tasks without a run are simply absent.
        settings: bootstrap / test settings (defaults: 2000 resamples, 95 %, seed 0, paired bootstrap).
        checkpoint_root: where relative checkpoint paths are resolved (to tell pending from not evaluated).
    """
    settings = settings or StatsSettings()
    loaded = {row.id: _load_runs(row_runs.get(row.id, {})) for row in spec.rows}
    notes: list[str] = []
    rows = []
    for row in spec.rows:
        reference = spec.reference_row(row)
        runs, ref_runs = loaded[row.id], (loaded[reference.id] if reference else {})
        cells = {m.key: _cell(spec, row, reference, m, runs.get(m.task), ref_runs.get(m.task), settings,
                              checkpoint_root, notes) for m in spec.metrics}
        statuses = {cell.status for cell in cells.values()}
        status = "done" if statuses == {"ok"} else (statuses.pop() if len(statuses) == 1 else "partial")
        rows.append(TableRow(
            row=row, cells=cells, status=status,
            run_dirs={task: str(run.path) for task, run in runs.items()},
            for_reporting=all(run.record.get("for_reporting", True) for run in runs.values()),
        ))
    return AblationTable(spec=spec, rows=tuple(rows), settings=settings, notes=tuple(dict.fromkeys(notes)))


def _load_runs(task_dirs: Mapping[str, str | Path]) -> dict[str, Run]:
    runs = {}
    for task, directory in task_dirs.items():
        path = Path(directory)
        run = open_run(path)
        _ = run.samples  # read now: a broken samples.jsonl is named before any table is built
        runs[task] = run
    return runs


def _units(run: Run, metric: MetricColumn) -> stats.UnitScores | None:
    """The run's units for this metric (as its benchmark declares them); for a benchmark that declares no units,
    a mean over samples if it reproduces the score."""
    task = run.record.get("task", {})
    source = str(run_files(run.path)[0])
    declaration = declaration_of(task.get("name", metric.task), task.get("benchmark"))
    units = None
    if declaration is not None:
        units = unit_scores(declaration, metric.score, run.samples, run.record.get("scores"), source=source)
    reported = _score_value(run, metric)
    if units is None and (declaration is None or not declaration.units) and reported is not None:
        units = matching_mean_units(run.samples, run.record.get("scores"), reported, source)
    return units


def _cell(spec: AblationSpec, row: AblationRow, reference: AblationRow | None, metric: MetricColumn,
          run: Run | None, ref_run: Run | None, settings: StatsSettings,
          checkpoint_root: str | Path | None, notes: list[str]) -> Cell:
    paper = row.paper.get(metric.key, PaperValue(None))
    ref_paper = reference.paper.get(metric.key, PaperValue(None)) if reference else PaperValue(None)
    paper_delta = (paper.value - ref_paper.value
                   if paper.value is not None and ref_paper.value is not None else None)
    if run is None:
        status = NOT_EVALUATED if row.checkpoint_exists(checkpoint_root) else PENDING
        return Cell(status=status, paper=paper, paper_delta=paper_delta)
    value = _score_value(run, metric)
    n_ungraded = run.record.get("scores", {}).get("n_ungraded") or 0
    if n_ungraded:
        notes.append(f"{row.label} / {metric.header}: {n_ungraded} sample(s) ungraded (no judge or judge failures); "
                     "the score leaves them out; rerun with a working --judge to grade them (the run's judge block in "
                     "results.json says which judge, if any, was used and how often it failed)")
    if value is None:
        if n_ungraded:
            return Cell(status=UNGRADED, paper=paper, paper_delta=paper_delta)
        notes.append(f"{run.path}: results.json has no score {metric.score!r}")
        return Cell(status=MISSING_SCORE, paper=paper, paper_delta=paper_delta)
    try:
        units = _units(run, metric)
    except DataError as exc:
        notes.append(f"{metric.header}: no interval ({exc})")
        units = None
    interval = None
    if units is not None and units.n == 0:
        notes.append(f"{row.label} / {metric.header}: no graded sample to resample; shown without an interval")
        units = None
    if units is None:
        notes.append(f"{metric.header}: score {metric.score!r} has no per-unit form; shown without an interval")
    else:
        interval = stats.bootstrap_ci(units, settings.n_resamples, settings.confidence, settings.seed)
        if not math.isclose(interval.estimate, value, rel_tol=1e-9, abs_tol=_REPORTED_ROUNDING):
            notes.append(f"{run.path}: {metric.score} recomputed from samples.jsonl is {interval.estimate:.4f}, "
                         f"results.json says {value:.4f} (the interval is centred on the samples)")
    delta, delta_plain = _delta(metric, value, units, ref_run, settings, notes)
    return Cell(status="ok", value=value, interval=interval, delta=delta, delta_plain=delta_plain,
                paper=paper, paper_delta=paper_delta)


def _score_value(run: Run, metric: MetricColumn) -> float | None:
    value = run.record.get("scores", {}).get(metric.score)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _delta(metric: MetricColumn, value: float, units: stats.UnitScores | None, ref_run: Run | None,
           settings: StatsSettings, notes: list[str]) -> tuple[stats.DeltaTest | None, float | None]:
    if ref_run is None:
        return None, None
    ref_value = _score_value(ref_run, metric)
    if ref_value is None:
        return None, None
    try:
        ref_units = _units(ref_run, metric)
    except DataError:
        ref_units = None
    if units is None or ref_units is None or ref_units.n == 0:
        return None, value - ref_value
    try:
        test = stats.compare(ref_units, units, settings.test, settings.n_resamples, settings.confidence,
                             settings.seed)
    except DataError as exc:
        notes.append(f"{metric.header}: no paired test ({exc})")
        return None, value - ref_value
    return test, value - ref_value


# ----------------------------------------------------------------------------------------------- formatting

def _number(value: float | None, decimals: int, signed: bool = False) -> str:
    if value is None:
        return ""
    rounded = round(value, decimals) or 0.0  # no "-0.0"
    return f"{rounded:+.{decimals}f}" if signed else f"{rounded:.{decimals}f}"


def format_p(p_value: float) -> str:
    """``p<0.001`` below a thousandth, else ``p=0.042`` (three decimals)."""
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def _score_text(cell: Cell, decimals: int) -> str:
    if cell.status != "ok":
        return cell.status
    text = _number(cell.value, decimals)
    if cell.interval is not None:
        text += f" [{_number(cell.interval.low, decimals)}, {_number(cell.interval.high, decimals)}]"
    return text


def _delta_text(cell: Cell, decimals: int) -> str:
    if cell.delta is not None:
        d = cell.delta
        return (f"{_number(d.delta, decimals, True)} [{_number(d.low, decimals, True)}, "
                f"{_number(d.high, decimals, True)}] {format_p(d.p_value)}")
    return _number(cell.delta_plain, decimals, True)


def _paper_text(cell: Cell, decimals: int) -> str:
    text = cell.paper.text(decimals)
    if cell.paper_delta is not None:
        text += f" ({_number(cell.paper_delta, decimals, True)})"
    return text or "–"


def _significant(cell: Cell) -> bool:
    return cell.delta is not None and cell.delta.p_value < SIGNIFICANCE


def legend(table: AblationTable) -> str:
    """The method line printed under every rendering."""
    s = table.settings
    test = "paired bootstrap" if s.test == "bootstrap" else "paired permutation test"
    return (f"Ours: score [{s.confidence:.0%} percentile bootstrap CI over the benchmark's units, "
            f"{s.n_resamples} resamples, seed {s.seed}]. Δ: change to the previous row of the section "
            f"[{s.confidence:.0%} paired bootstrap CI] and two-sided p-value ({test}, samples paired by doc_id); "
            f"bold Δ: p < {SIGNIFICANCE}. Paper: value as printed (Δ computed from the printed values of the same "
            f"two rows); * = training images observed; – = not given or not legible.")


def _header(table: AblationTable) -> list[str]:
    cols = ["Method"] + [c.header for c in table.spec.setting_columns]
    for metric in table.spec.metrics:
        cols += [metric.header, "Δ", "Paper"]
    return cols


def _row_cells(table: AblationTable, trow: TableRow) -> list[tuple[str, bool]]:
    """The row's cell texts with a bold flag (significant Δ)."""
    label = trow.row.label + ("" if trow.for_reporting else " (limited)")
    cols = [(label, False)] + [(trow.row.setting.get(c.key, ""), False) for c in table.spec.setting_columns]
    for metric in table.spec.metrics:
        cell = trow.cells[metric.key]
        delta = _delta_text(cell, metric.decimals)
        cols += [(_score_text(cell, metric.decimals), False), (delta, bool(delta) and _significant(cell)),
                 (_paper_text(cell, metric.decimals), False)]
    return cols


def _sections(table: AblationTable) -> bool:
    return len({trow.row.section for trow in table.rows}) > 1


def _markdown_cell(text: str, bold: bool) -> str:
    escaped = text.replace("|", "\\|").replace("*", "\\*")
    return f"**{escaped}**" if bold else escaped


def render_markdown(table: AblationTable) -> str:
    """A GitHub markdown table (section names as bold separator rows) plus the legend and notes."""
    header = _header(table)
    lines = [f"### {table.spec.title or table.spec.name}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    section = None
    for trow in table.rows:
        if _sections(table) and trow.row.section != section:
            section = trow.row.section
            lines.append("| " + " | ".join([f"**{section}**"] + [""] * (len(header) - 1)) + " |")
        cells = [_markdown_cell(text, bold) for text, bold in _row_cells(table, trow)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", legend(table)]
    if table.spec.source:
        lines.append(f"Paper numbers: {table.spec.source}.")
    lines += [f"Note: {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "Δ": r"$\Delta$", "–": "--", "<": r"$<$", "*": r"$^*$"}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (and write Δ, –, <, * the LaTeX way)."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _stack(top: str, *below: str) -> str:
    """Lines stacked in one cell, those below in script size (plain LaTeX: a nested tabular)."""
    lines = [top] + [rf"{{\scriptsize {line}}}" for line in below if line]
    if len(lines) == 1:
        return top
    return r"\begin{tabular}[c]{@{}c@{}}" + r"\\".join(lines) + r"\end{tabular}"


def _latex_cells(table: AblationTable, trow: TableRow) -> list[str]:
    """The row's LaTeX cells: value on top, interval (and p-value) below in script size."""
    label = latex_escape(trow.row.label + ("" if trow.for_reporting else " (limited)"))
    cells = [label] + [latex_escape(trow.row.setting.get(c.key, "")) for c in table.spec.setting_columns]
    for metric in table.spec.metrics:
        cell, d = trow.cells[metric.key], metric.decimals
        if cell.status != "ok":
            cells += [rf"\textit{{{latex_escape(cell.status)}}}", ""]
        else:
            interval = (f"[{_number(cell.interval.low, d)}, {_number(cell.interval.high, d)}]"
                        if cell.interval else "")
            cells.append(_stack(_number(cell.value, d), interval))
            cells.append(_latex_delta(cell, d))
        paper_delta = f"({_number(cell.paper_delta, d, True)})" if cell.paper_delta is not None else ""
        cells.append(_stack(latex_escape(cell.paper.text(d)) or "--", paper_delta))
    return cells


def _latex_delta(cell: Cell, decimals: int) -> str:
    if cell.delta is None:
        return _number(cell.delta_plain, decimals, True)
    d = cell.delta
    top = _number(d.delta, decimals, True)
    top = rf"\textbf{{{top}}}" if _significant(cell) else top
    interval = f"[{_number(d.low, decimals, True)}, {_number(d.high, decimals, True)}]"
    return _stack(top, interval, latex_escape(format_p(d.p_value)))


def render_latex(table: AblationTable) -> str:
    """A booktabs ``table*`` with one column group per metric (ours / Δ / paper); needs ``\\usepackage{booktabs}``.

    Each value carries its interval (and Δ its p-value) on the lines below it in script size.
    """
    spec = table.spec
    n_set = 1 + len(spec.setting_columns)
    colspec = "l" + "c" * (n_set - 1 + 3 * len(spec.metrics))
    top = " & ".join([""] * n_set + [rf"\multicolumn{{3}}{{c}}{{{latex_escape(m.header)}}}" for m in spec.metrics])
    rules = " ".join(rf"\cmidrule(lr){{{n_set + 3 * i + 1}-{n_set + 3 * i + 3}}}" for i in range(len(spec.metrics)))
    sub = " & ".join(["Method"] + [latex_escape(c.header) for c in spec.setting_columns]
                     + ["Ours", r"$\Delta$", "Paper"] * len(spec.metrics))
    lines = [r"\begin{table*}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3pt}",
             rf"\begin{{tabular}}{{{colspec}}}", r"\toprule",
             top + r" \\", rules, sub + r" \\", r"\midrule"]
    section = None
    width = n_set + 3 * len(spec.metrics)
    for trow in table.rows:
        if _sections(table) and trow.row.section != section:
            if section is not None:
                lines.append(r"\midrule")
            section = trow.row.section
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{latex_escape(section)}}}}} \\")
        lines.append(" & ".join(_latex_cells(table, trow)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{{latex_escape(spec.title or spec.name)}. {latex_escape(legend(table))}}}",
              rf"\label{{tab:{spec.name}}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(round(float(value), 6))


def render_csv(table: AblationTable) -> str:
    """One line per row (the paper's layout), full-precision numbers, one column group per metric."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["row", "label", "section", "status", "for_reporting"] + [c.key for c in table.spec.setting_columns]
    for m in table.spec.metrics:
        header += [f"{m.key}{suffix}" for suffix in ("", "_ci_low", "_ci_high", "_delta", "_delta_ci_low",
                                                     "_delta_ci_high", "_p_value", "_paper", "_paper_delta")]
    writer.writerow(header)
    for trow in table.rows:
        line = [trow.row.id, trow.row.label, trow.row.section, trow.status, str(trow.for_reporting).lower()]
        line += [trow.row.setting.get(c.key, "") for c in table.spec.setting_columns]
        for m in table.spec.metrics:
            cell = trow.cells[m.key]
            d = cell.delta
            line += [
                _csv_number(cell.value) if cell.status == "ok" else cell.status,
                _csv_number(cell.interval.low if cell.interval else None),
                _csv_number(cell.interval.high if cell.interval else None),
                _csv_number(d.delta if d else cell.delta_plain),
                _csv_number(d.low if d else None), _csv_number(d.high if d else None),
                _csv_number(d.p_value if d else None),
                cell.paper.text(m.decimals), _csv_number(cell.paper_delta),
            ]
        writer.writerow(line)
    return out.getvalue()


def write_table(table: AblationTable, directory: str | Path, stem: str | None = None) -> dict[str, Path]:
    """Write ``<stem>.md``, ``<stem>.tex`` and ``<stem>.csv`` into ``directory``; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = stem or table.spec.name
    paths = {}
    for ext, render in (("md", render_markdown), ("tex", render_latex), ("csv", render_csv)):
        path = directory / f"{stem}.{ext}"
        path.write_text(render(table), encoding="utf-8")
        paths[ext] = path
    return paths


def load_units(run_dir: str | Path, metric: MetricColumn) -> stats.UnitScores | None:
    """The units of ``metric`` in one run directory (what the table's intervals and Δ tests resample)."""
    return _units(_load_runs({metric.task: run_dir})[metric.task], metric)
