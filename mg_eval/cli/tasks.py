"""List the registered tasks and groups.

Examples:
  mg-eval tasks                 # table of tasks + groups
  mg-eval tasks --groups        # groups only
"""

from __future__ import annotations

import argparse

from mg_eval.errors import UserInputError
from mg_eval.tasks import Task, list_groups, list_tasks, resolve_tasks

__all__ = ["add_arguments", "run", "task_table"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mg-eval tasks``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--groups", action="store_true", help="list groups only")
    parser.add_argument("--count-samples", action="store_true",
                        help="load every task's bundled samples and show their count (#sample); slower: imports the "
                             "data readers (pandas, datasets), which the plain listing never does")


def _sample_count(task: Task) -> str:
    if task.sample_path is None:
        return "-"
    try:
        return str(len(task.load_sample()))
    except UserInputError as exc:
        return f"error: {str(exc)[:60]}"


def _size(task: Task) -> str:
    """``metadata.size`` of the task YAML: the number of questions of the full split, as the benchmark states it."""
    size = task.config.metadata.get("size")
    return "-" if size is None else str(size)


def task_table(tasks: list[Task], count_samples: bool = True) -> str:
    """A plain-text table: name, benchmark, version, [#docs in the bundled sample,] primary metric, #questions
    of the full split (``metadata.size``), hub dataset."""
    header = ("task", "benchmark", "version", *(("#sample",) if count_samples else ()), "metric", "size", "dataset")
    rows = [header] + [
        (t.name, t.benchmark, str(t.version), *((_sample_count(t),) if count_samples else ()), t.primary_metric,
         _size(t), f"{t.config.dataset_path}:{t.config.test_split}")
        for t in tasks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the task table, then the groups."""
    if not args.groups:
        tasks = resolve_tasks(list_tasks())
        print(task_table(tasks, count_samples=args.count_samples))
        described = [(t.name, t.config.metadata["description"]) for t in tasks if t.config.metadata.get("description")]
        if described:
            print("\nwhat each measures (metadata.description):")
            for name, description in described:
                print(f"  {name}: {description}")
        print()
    print("groups:")
    for group, members in list_groups().items():
        print(f"  {group}: {', '.join(members)}")
    return 0
