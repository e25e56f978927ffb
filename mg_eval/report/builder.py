"""Build the static report site: jinja2 templates + data chunks + thumbnails + figures, no server.

Output layout::

    DIR/index.html                 leaderboard (ours beside the paper) + every run + embedded figures
    DIR/run-<slug>.html            one page per run: scores, sub-score figures, provenance
    DIR/samples.html               the sample browser (#run=<slug> selects a run)
    DIR/compare.html               --compare A B: deltas with paired tests, flipped samples side by side
    DIR/data/<slug>/<k>.js         sample rows, 500 per chunk, loaded by <script> on demand
    DIR/data/compare.js            the flipped samples' rows
    DIR/thumbs/<data>/<id>_<k>.jpg downscaled image copies
    DIR/figures/*.png              leaderboard, breakdown and training-curve figures
    DIR/static/report.{css,js}     hand-written, shipped with the package
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from mg_eval.analysis import stats
from mg_eval.errors import UserInputError
from mg_eval.report import collect, compare, figures, leaderboard, samples

DEFAULT_THUMB_SIZE = 160
DEFAULT_RESAMPLES = 1000


@dataclass
class ReportOptions:
    """Settings of one build (the CLI's options)."""

    reference: str | Path | None = None
    compare: tuple[str, str] | None = None
    n_resamples: int = DEFAULT_RESAMPLES
    seed: int = stats.DEFAULT_SEED
    images: bool = True
    thumb_size: int = DEFAULT_THUMB_SIZE


@dataclass
class ReportSummary:
    """What was written: pages, number of runs / samples / thumbnails, notes (e.g. missing images)."""

    output: Path
    pages: list[Path] = field(default_factory=list)
    n_runs: int = 0
    n_samples: int = 0
    n_thumbnails: int = 0
    notes: dict[str, str] = field(default_factory=dict)


def check_output(output: Path) -> None:
    """``UserInputError`` unless ``output`` is (or can be made) a writable folder."""
    if output.exists() and not output.is_dir():
        raise UserInputError(f"--output {output} is a file; give a folder for the site")
    try:
        output.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UserInputError(f"--output {output} is not writable ({exc.strerror}); choose another folder") from None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("mg_eval.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = format_number
    env.filters["script_json"] = lambda value: Markup(samples.script_json(value))
    env.filters["p_value"] = format_p_value
    env.filters["compact_json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env


def format_number(value: Any, digits: int = 2) -> str:
    """Numbers for tables: integers as they are, floats to ``digits`` decimals, ``None`` as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def format_p_value(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def copy_static(output: Path) -> None:
    target = output / "static"
    target.mkdir(parents=True, exist_ok=True)
    for item in resources.files("mg_eval.report").joinpath("static").iterdir():
        if item.name.endswith((".css", ".js")):
            (target / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")


def build_report(root: str | Path, output: str | Path, options: ReportOptions | None = None) -> ReportSummary:
    """Write the site for every run under ``root`` into ``output`` (see the module docstring)."""
    options = options or ReportOptions()
    output = Path(output)
    views = collect.load_run_views(root, options.n_resamples, options.seed)
    if options.compare:
        compare.check_models(views, *options.compare)
    check_output(output)
    if (output / "static" / "report.js").is_file():
        remove_site(output)  # a site this command wrote before: drop its pages so no stale run remains
    summary = ReportSummary(output=output, n_runs=len(views), n_samples=sum(len(v.samples) for v in views))
    thumbs = samples.make_thumbnails(views, output, options.thumb_size) if options.images else samples.Thumbnails()
    summary.n_thumbnails, summary.notes = thumbs.written, dict(thumbs.notes)
    rows_by_run = {}
    manifest = []
    for view in views:
        rows, prefix = samples.sample_rows(view, thumbs)
        rows_by_run[view.slug] = rows
        manifest.append(_manifest_entry(view, prefix, samples.write_chunks(output, view.slug, rows), thumbs))
    env = _environment()
    context = _base_context(root, options, bool(options.compare))
    summary.pages.append(_write_index(env, context, views, options, output))
    for view in views:
        summary.pages.append(_write_run_page(env, context, view, output, thumbs))
    summary.pages.append(_render(env, "samples.html", output / "samples.html", context, manifest=manifest))
    if options.compare:
        summary.pages.append(_write_compare(env, context, views, options, rows_by_run, output, thumbs.notes))
    copy_static(output)
    return summary


def _base_context(root: str | Path, options: ReportOptions, has_compare: bool) -> dict[str, Any]:
    return {"root": os.fspath(root), "has_compare": has_compare, "compare_models": options.compare,
            "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "n_resamples": options.n_resamples, "seed": options.seed}


def _render(env: jinja2.Environment, template: str, path: Path, context: dict[str, Any], **values: Any) -> Path:
    path.write_text(env.get_template(template).render(**context, **values), encoding="utf-8")
    return path


def _manifest_entry(view: collect.RunView, prefix: str, n_chunks: int, thumbs: samples.Thumbnails) -> dict:
    return {"slug": view.slug, "label": view.label, "model": view.model, "task": view.task, "n": len(view.samples),
            "chunks": n_chunks, "prefix": prefix, "category_field": view.category_field,
            "fields": list(samples.ROW_FIELDS), "page": f"run-{view.slug}.html", "images_note": thumbs.notes.get(view.task)}


def _write_index(env: jinja2.Environment, context: dict[str, Any], views: Sequence[collect.RunView],
                 options: ReportOptions, output: Path) -> Path:
    ours = leaderboard.our_rows(views, options.n_resamples, options.seed)
    paper = leaderboard.paper_rows(options.reference)
    zoo = leaderboard.zoo_rows(include=options.reference is not None)  # --no-reference: ours only
    figure_paths = figures.leaderboard_figures([row.entry() for row in ours if row.cells],
                                               [row.entry() for row in paper], output / "figures",
                                               zoo=[row.entry() for row in zoo])
    figure_paths += figures.training_curve_figure(views, output / "figures")
    return _render(env, "index.html", output / "index.html", context, ours=ours, paper=paper, zoo=zoo,
                   columns=leaderboard.columns([*ours, *paper, *zoo]), views=views,
                   figures=[path.relative_to(output).as_posix() for path in figure_paths],
                   reference=os.fspath(options.reference) if options.reference else None)


def _write_run_page(env: jinja2.Environment, context: dict[str, Any], view: collect.RunView, output: Path,
                    thumbs: samples.Thumbnails) -> Path:
    parts = []
    for k, breakdown in enumerate(collect.breakdowns(view.record["scores"])):
        image = None
        if not breakdown.is_count:
            image = figures.breakdown_figure(breakdown, output / "figures" / view.slug / f"breakdown_{k}.png")
            image = image.relative_to(output).as_posix()
        parts.append({"breakdown": breakdown, "image": image})
    record = view.record
    provenance = {key: record.get(key) for key in ("model", "task", "generation", "seeds", "environment",
                                                   "run_config", "timing", "n_samples", "extra") if key in record}
    model_config = (provenance.get("model") or {}).get("config") or {}
    provenance["model"] = {k: v for k, v in (record.get("model") or {}).items() if k != "config"}
    task_config = (provenance.get("task") or {}).get("config") or {}
    provenance["task"] = {k: v for k, v in (record.get("task") or {}).items() if k != "config"}
    encoders = {k: v for k, v in model_config.items() if "vision_tower" in k and isinstance(v, str)}
    return _render(env, "run.html", output / f"run-{view.slug}.html", context, view=view, record=record,
                   flat=collect.flat_scores(record["scores"]), breakdowns=parts, provenance=provenance,
                   encoders=encoders, model_config=model_config, task_config=task_config,
                   images_note=thumbs.notes.get(view.task))


def _write_compare(env: jinja2.Environment, context: dict[str, Any], views: Sequence[collect.RunView],
                   options: ReportOptions, rows_by_run: dict[str, list[list[Any]]], output: Path,
                   image_notes: dict[str, str]) -> Path:
    name_a, name_b = options.compare  # type: ignore[misc]
    comparisons = compare.compare_models(views, name_a, name_b, options.n_resamples, options.seed)
    data = []
    for item in comparisons:
        rows_a = {row[0]: row for row in rows_by_run[item.run_a.slug]}
        rows_b = {row[0]: row for row in rows_by_run[item.run_b.slug]}
        data.append({"task": item.task, "protocol": item.protocol, "slug_a": item.run_a.slug,
                     "slug_b": item.run_b.slug,
                     "a_only": [[rows_a[d], rows_b[d]] for d in item.a_only_right],
                     "b_only": [[rows_a[d], rows_b[d]] for d in item.b_only_right]})
    (output / "data").mkdir(parents=True, exist_ok=True)
    payload = {"a": name_a, "b": name_b, "fields": list(samples.ROW_FIELDS), "tasks": data}
    (output / "data" / "compare.js").write_text(f"MGR.compare({samples.script_json(payload)});\n", encoding="utf-8")
    return _render(env, "compare.html", output / "compare.html", context, comparisons=comparisons,
                   name_a=name_a, name_b=name_b, image_notes=image_notes)


def remove_site(output: Path) -> None:
    """Delete a previously written site's generated pages and data (thumbnails are kept for reuse)."""
    for name in ("data", "figures", "static"):
        shutil.rmtree(output / name, ignore_errors=True)
    for page in output.glob("*.html"):
        page.unlink()
