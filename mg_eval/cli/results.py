"""List and compare evaluation runs as a table; export CSV or markdown.

Examples::

    mg-eval results                              # latest run per (model, task, protocol) under ./results
    mg-eval results --compare                    # tasks as rows, models as columns (primary metric)
    mg-eval results --task openvlm               # a group's summary score (its YAML's `average:`), when complete
    mg-eval results --all-runs --task mme --csv runs.csv
    mg-eval results --compare --markdown table.md
    mg-eval results --steps                      # training checkpoints: one row per (run, step), tasks as columns
    mg-eval results --compare --reference         # beside the paper's and the LLaVA Model Zoo's published rows
    mg-eval results --add-server-score results/MGM-7B/mmmu_test/<run> --value 44.9 --source "EvalAI, 2026-12-01"
"""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path
from typing import Any

import pandas as pd

from mg_eval.api import PROTOCOLS
from mg_eval.cli.shared_flags import add_reference_rows_argument
from mg_eval.errors import UserInputError
from mg_eval.results import collect_runs, is_run_dir, newest_per, open_run, write_run

LIST_COLUMNS = ["model", "backend", "task", "protocol", "metric", "value", "n", "ungraded", "for_reporting", "judge", "run_id",
                "path", "manual"]
HIDDEN_COLUMNS = ["created_at", "training_run", "step"]  # loaded, not printed in the list view
MANUAL_KEY = "manual_scores"  # results.json scores: {metric: {value, source, added_at}} for hand-added numbers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mg-eval results``."""
    parser.add_argument("--root", default="results", help="results root written by `mg-eval run` (default ./results)")
    parser.add_argument("--model", action="append", default=[], help="only these models (repeatable)")
    parser.add_argument("--task", action="append", default=[], help="only these tasks (repeatable)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None, help="only this protocol")
    parser.add_argument("--all-runs", action="store_true",
                        help="every run, not only the latest per (model, task, protocol)")
    parser.add_argument("--reporting-only", action="store_true",
                        help="drop runs not for reporting (for_reporting=false: --limit, sample data, overrides)")
    parser.add_argument("--compare", action="store_true",
                        help="pivot: one row per (task, protocol, metric), one column per model")
    parser.add_argument("--steps", action="store_true",
                        help="training checkpoints only: one row per (training run, step), one column per task "
                             "(primary metric; runs from `mg-eval run` on checkpoints or `mg-eval watch`)")
    parser.add_argument("--all-metrics", action="store_true", help="every score and sub-score, not only the primary")
    parser.add_argument("--csv", default=None, metavar="FILE", help="also write the table as CSV")
    parser.add_argument("--add-server-score", default=None, metavar="RUN",
                        help="record a score a test server returned for this run (with --value and --source)")
    parser.add_argument("--value", type=float, default=None, help="the server's number (with --add-server-score)")
    parser.add_argument("--source", default=None, help="where the number comes from (server, date)")
    parser.add_argument("--metric", default="server_accuracy", help="score key to write (default server_accuracy)")
    parser.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as markdown")
    add_reference_rows_argument(parser, help="with --compare: add the transcribed numbers of these published rows "
                                "(the paper's Table 1, the LLaVA Model Zoo) beside ours; no LABEL = the 7B/13B rows "
                                "and the zoo's LLaVA-1.5/1.6 rows, \"all\" = every row (labels as in `mg-eval plot`)")


def _flatten(scores: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested score objects -> ``{"a/b": number}`` (non-numbers dropped)."""
    flat: dict[str, float] = {}
    for key, value in scores.items():
        if key in ("per_sample", MANUAL_KEY):
            continue  # per-sample detail / the provenance of hand-added numbers: not table values
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix=f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def load_runs(root: str | Path, all_metrics: bool = False) -> pd.DataFrame:
    """One row per (run, metric) for every run under ``root`` (primary metric only unless ``all_metrics``).

    Unreadable runs raise ``DataError`` naming the file.
    """
    rows = []
    for run in collect_runs(root):
        record = run.record
        scores = _flatten(record["scores"])
        primary = record.get("primary_metric")
        metrics = scores if all_metrics else {primary: scores.get(primary)} if primary else {}
        manual = record["scores"].get(MANUAL_KEY) or {}
        for metric, value in metrics.items():
            rows.append({"manual": f"server score, added by hand: {manual[metric]['source']}" if metric in manual else "",
                         "model": run.model, "backend": run.backend,
                         "task": record["task"]["name"],
                         "protocol": record["protocol"], "metric": metric, "value": value,
                         "n": record["n_samples"]["total"], "ungraded": scores.get("n_ungraded"),
                         "for_reporting": record["for_reporting"],
                         "judge": record.get("judge"), "run_id": record["run_id"], "created_at": record["created_at"],
                         "path": str(run.path), **training_columns(record)})
    return pd.DataFrame(rows, columns=LIST_COLUMNS + HIDDEN_COLUMNS)


def training_columns(record: dict[str, Any]) -> dict[str, Any]:
    """``training_run`` (run folder name + short config hash) and ``step`` of a training checkpoint's run."""
    training = record["model"].get("training")
    if not training:
        return {"training_run": None, "step": None}
    digest = str(training.get("config_hash") or "").removeprefix("sha256:")[:8]
    run = Path(str(training.get("run_dir") or "")).name
    return {"training_run": f"{run} ({digest})" if digest else run, "step": int(training["step"])}


def steps_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows (training run, step), columns = ``task/metric``, values = the selected runs' scores."""
    frame = frame[frame["step"].notna()]
    if frame.empty:
        return frame
    frame = frame.assign(step=frame["step"].astype(int), column=frame["task"] + "/" + frame["metric"])
    latest = frame.sort_values("run_id").groupby(["training_run", "step", "column"])["value"].agg(
        lambda values: values.iloc[-1])
    table = latest.unstack("column").reset_index()
    table.columns.name = None
    return table


def group_score_rows(root: str | Path) -> pd.DataFrame:
    """One row per (model, backend, protocol, group score) whose member tasks all have a full run (the newest
    full run of each member; :mod:`mg_eval.analysis.group_scores`). ``task`` is the group's name, ``metric`` the
    score's key."""
    from mg_eval.analysis.group_scores import group_scores_of, newest_by_task

    full_runs: dict[tuple[str, str, str], list[dict]] = {}
    for run in collect_runs(root, lambda run: bool(run.record["for_reporting"])):
        full_runs.setdefault((run.model, run.backend, run.protocol), []).append(run.record)
    rows = []
    for (model, backend, protocol), records in sorted(full_runs.items()):
        newest = newest_by_task(records)
        for score, value in group_scores_of(newest).items():
            members = [newest[task] for task in score.tasks]
            judges = sorted({str(member.get("judge")) for member in members if member.get("judge")})
            rows.append({"model": model, "backend": backend, "task": score.group, "protocol": protocol,
                         "metric": score.key,
                         "value": value, "n": sum(member["n_samples"]["total"] for member in members),
                         "ungraded": None, "for_reporting": True, "judge": ", ".join(judges) or None,
                         "run_id": max(member["run_id"] for member in members),
                         "created_at": max(member["created_at"] for member in members), "path": "",
                         "manual": "", "training_run": None, "step": None})
    return pd.DataFrame(rows, columns=LIST_COLUMNS + HIDDEN_COLUMNS)


def select(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """Apply the filters and keep the latest run per (model, task, protocol) unless ``--all-runs``."""
    if args.model:
        frame = frame[frame["model"].isin(args.model)]
    if args.task:
        frame = frame[frame["task"].isin(args.task)]
    if args.protocol:
        frame = frame[frame["protocol"] == args.protocol]
    if args.reporting_only:
        frame = frame[frame["for_reporting"]]
    if not args.all_runs and not frame.empty:
        keys = list(zip(frame["model"], frame["task"], frame["protocol"], frame["run_id"]))
        newest = newest_per(keys, lambda row: row[:3], run_id=lambda row: row[3])
        frame = frame[[newest[row[:3]][3] == row[3] for row in keys]]
    return frame.sort_values(["task", "protocol", "model", "metric", "run_id"]).reset_index(drop=True)


def compare(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows (task, protocol, metric), columns = models, values = scores of the selected runs.

    A score a judge was needed for and none was given stays empty (NaN), it is never dropped or zeroed.
    """
    if frame.empty:
        return frame
    keys = ["task", "protocol", "metric", "model"]
    latest = frame.sort_values("run_id").groupby(keys, sort=True)["value"].agg(lambda values: values.iloc[-1])
    table = latest.unstack("model").reset_index()
    table.columns.name = None
    return table


def how_made_table(frame: pd.DataFrame, references: list[str] | None = None) -> pd.DataFrame:
    """One row per column of the compare table: how its numbers were made (backend, prompts, judge, reporting).

    ``references``: the labels of the transcribed columns added by :func:`add_reference_columns`.
    """
    rows = []
    for model, runs in frame.groupby("model", sort=True):
        judges = sorted({str(judge) for judge in runs["judge"] if isinstance(judge, str) and judge})
        rows.append({"column": model, "backend": ", ".join(sorted(set(runs["backend"]))),
                     "protocol": ", ".join(sorted(set(runs["protocol"]))), "judge": ", ".join(judges) or "no judge",
                     "for_reporting": "yes" if bool(runs["for_reporting"].all()) else "no (some runs)"})
    for label in references or []:
        rows.append({"column": label, "backend": "transcribed", "protocol": "the authors'", "judge": "as published",
                     "for_reporting": "published"})
    return pd.DataFrame(rows, columns=["column", "backend", "protocol", "judge", "for_reporting"])


def add_reference_columns(table: pd.DataFrame, labels: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The compare table with one column per selected published row (paper Table 1, LLaVA Model Zoo).

    A cell holds the published number of the leaderboard column the benchmark declares for that (task, score)
    (``paper_columns`` in ``tasks/<benchmark>/benchmark.yaml``: the same mapping `mg-eval plot` uses); empty
    where the row publishes none. Returns the table and the added column names.
    """
    from mg_eval.analysis import plots, zoo
    from mg_eval.analysis.units import declaration_of
    from mg_eval.cli.shared_flags import DEFAULT_REFERENCE

    paper, zoo_entries = plots.load_reference(DEFAULT_REFERENCE), zoo.load_zoo()
    if labels == ["all"]:
        chosen = paper + zoo_entries
    elif labels:
        known = {entry.label: entry for entry in paper + zoo_entries}
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise UserInputError(f"--reference {unknown} are not published rows; known: {sorted(known)}")
        chosen = [known[label] for label in labels]
    else:
        chosen = plots.select_reference(paper, None) + plots.select_reference(zoo_entries, None, zoo.DEFAULT_ZOO_ROWS)
    table = table.copy()
    keys = []
    for task, metric in zip(table["task"], table["metric"]):
        declaration = declaration_of(str(task))
        columns = [] if declaration is None else [column.key for column in declaration.paper_columns if
                                                  column.score == metric and (not column.tasks or task in column.tasks)]
        keys.append(columns[0] if columns else None)
    for entry in chosen:
        table[entry.display()] = [entry.values.get(key) if key else None for key in keys]
    return table, [entry.display() for entry in chosen]


COUNT_COLUMNS = ("n", "ungraded")


def to_markdown(frame: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub markdown table (scores rounded to ``digits``, counts as integers, missing values empty)."""
    def cell(value: Any, column: str) -> str:
        if isinstance(value, float):
            if pd.isna(value):
                return ""
            return f"{value:.0f}" if column.startswith(COUNT_COLUMNS) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    columns = [str(column) for column in frame.columns]
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(cell(value, column) for value, column in zip(row, columns)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def add_server_score(run_dir: str | Path, value: float, source: str, metric: str = "server_accuracy") -> dict:
    """Write a test server's returned score into a run's results.json, marked as added by hand.

    ``scores[metric] = value`` and ``scores["manual_scores"][metric] = {value, source, added_at}``; the run's
    own scores are kept. Returns the updated record.

    Raises:
        UserInputError: not a run folder, or no source given.
    """
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise UserInputError(f"{run_dir}: no results.json; pass the run folder the server file was exported from.")
    if not source:
        raise UserInputError("--source is required: say which server returned the number, and when.")
    run = open_run(run_dir)
    record = run.record
    added_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    scores = dict(record["scores"])
    scores[metric] = float(value)
    scores[MANUAL_KEY] = {**(scores.get(MANUAL_KEY) or {}),
                          metric: {"value": float(value), "source": source, "added_at": added_at}}
    record = {**record, "scores": scores}
    write_run(run_dir, record, run.samples)
    return record


def run(args: argparse.Namespace) -> int:
    """Print the table; write CSV / markdown when asked (or record a server score)."""
    if args.add_server_score:
        if args.value is None:
            raise UserInputError("--add-server-score needs --value (the server's number) and --source.")
        add_server_score(args.add_server_score, args.value, args.source, args.metric)
        print(f"recorded {args.metric} = {args.value} in {args.add_server_score} (server score, added by hand)")
        return 0
    root = Path(args.root)
    if not root.is_dir():
        raise UserInputError(f"results root {root} does not exist; run `mg-eval run` (or `mg-eval demo`) first, "
                             "or pass --root DIR")
    if args.reference_rows is not None and not args.compare:
        raise UserInputError("--reference-rows adds published columns to the --compare table; add --compare")
    frame = select(load_runs(root, all_metrics=args.all_metrics), args)
    groups = group_score_rows(root)
    groups = select(groups, args) if not groups.empty else groups
    if not groups.empty:
        frame = groups if frame.empty else pd.concat([frame, groups], ignore_index=True)
    table = (steps_table(frame) if args.steps else compare(frame) if args.compare
             else frame.drop(columns=HIDDEN_COLUMNS))
    if table.empty:
        print(f"no runs under {root} match the filters")
        return 0
    made = None
    if args.compare:
        references: list[str] = []
        if args.reference_rows is not None:
            table, references = add_reference_columns(table, list(args.reference_rows))
        made = how_made_table(frame, references)
    with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200,
                           "display.max_colwidth", 60):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
        if made is not None:
            print("\nhow each column was made:")
            print(made.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.markdown:
        text = to_markdown(table) + ("" if made is None else "\nHow each column was made:\n\n" + to_markdown(made))
        Path(args.markdown).write_text(text, encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0
