"""Write a run's predictions as the file a benchmark's test server takes (formats declared in benchmark.yaml).

Examples:
  mg-eval export results/MGM-7B/mmmu_test/<run> --format mmmu_test        # -> <run>/mmmu_test.json
  mg-eval export results/MGM-7B/mmvet/<run> --format mmvet_online --output mmvet.json
  mg-eval export --list                                                     # every declared format
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mg_eval.api import ExportFormat
from mg_eval.cli.shared_flags import add_output_argument
from mg_eval.errors import UserInputError
from mg_eval.results import is_run_dir, open_run
from mg_eval.tasks import list_benchmarks

__all__ = ["add_arguments", "run", "export_formats", "export_run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mg-eval export``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_dir", nargs="?", metavar="RUN", help="a run folder (results.json + samples.jsonl)")
    parser.add_argument("--format", dest="fmt", default=None, help="the submission format (see --list)")
    add_output_argument(parser, what="the file to write (default: RUN/<format><suffix>)", metavar="FILE")
    parser.add_argument("--list", action="store_true", help="list the declared formats and exit")


def export_formats() -> dict[str, ExportFormat]:
    """Every export format the benchmark folders declare, by name."""
    return {fmt.name: fmt for benchmark in list_benchmarks() for fmt in benchmark.export_formats}


def export_run(run_dir: str | Path, name: str, output: str | Path | None = None) -> tuple[Path, ExportFormat]:
    """Write the submission file of format ``name`` for the run in ``run_dir``; returns (path, format).

    Raises:
        UserInputError: unknown format, a run of another task, or a missing / unreadable run.
    """
    formats = export_formats()
    if name not in formats:
        raise UserInputError(f"unknown export format {name!r}; declared: {', '.join(sorted(formats)) or 'none'}.")
    fmt = formats[name]
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise UserInputError(f"{run_dir}: no results.json; pass a run folder written by `mg-eval run`.")
    run = open_run(run_dir)
    record = run.record
    task = record["task"]["name"]
    if task not in fmt.tasks:
        raise UserInputError(f"{run_dir}: a run of task {task!r}; format {name} takes runs of {', '.join(fmt.tasks)}.")
    if not record.get("for_reporting", True):
        raise UserInputError(f"{run_dir}: a --limit run (for_reporting false); a server needs the whole split.")
    path = Path(output) if output else run_dir / f"{name}{fmt.suffix}"
    fmt.write(record, run.samples, path)
    return path, fmt


def run(args: argparse.Namespace) -> int:
    """List the formats, or write one file and say where to submit it."""
    if args.list:
        for name, fmt in sorted(export_formats().items()):
            print(f"{name}: {fmt.description} (tasks: {', '.join(fmt.tasks)}; submit to {fmt.submit_to})")
        return 0
    if not args.run_dir or not args.fmt:
        raise UserInputError("give a run folder and --format (or --list).")
    path, fmt = export_run(args.run_dir, args.fmt, args.output)
    print(f"wrote {path}\nsubmit it to: {fmt.submit_to}")
    return 0
