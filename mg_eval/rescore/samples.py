"""Our own run output: ``samples.jsonl`` (+ the ``results.json`` beside it) re-scored by the task's aggregate.

Each line of ``samples.jsonl`` is the task's ``process_result`` record, so re-scoring is
``get_task(name).aggregate(samples, protocol, judge)``, with the task name and protocol read from
``results.json`` (or given explicitly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mg_eval.errors import DataError, UserInputError
from mg_eval.results import is_samples_file, read_results, run_files
from mg_eval.results import read_samples as read_sample_lines

__all__ = ["check_run_task", "detect", "locate", "read_samples", "run_metadata"]

def locate(path: Path) -> tuple[Path, Path | None]:
    """``(samples.jsonl, results.json or None)`` for a run directory or a samples file."""
    return run_files(path)


def detect(path: Path) -> bool:
    """A run directory holding ``samples.jsonl``, or a file named ``samples.jsonl``."""
    return is_samples_file(path)


def read_samples(path: Path) -> list[dict]:
    """The sample records, one per line (``DataError`` naming the line on bad JSON)."""
    samples, _ = locate(path)
    if not samples.is_file():
        raise DataError(f"{samples}: not found; point at a run directory written by `mg-eval run`.")
    records = read_sample_lines(samples)
    if not records:
        raise DataError(f"{samples}: no samples.")
    for number, record in enumerate(records, start=1):
        if "doc_id" not in record:
            raise DataError(f"{samples}:{number}: no 'doc_id'; this is not a samples file of `mg-eval run`.")
    return records


def run_metadata(path: Path, task: str | None, protocol: str | None) -> tuple[str, str, dict | None]:
    """Task name, protocol and the results record of the run (explicit values win)."""
    if not path.exists():
        raise UserInputError(f"{path}: no such file or directory; point at a run directory written by `mg-eval run`.")
    _, results_file = locate(path)
    record = read_results(results_file) if results_file else None
    task = task or (record["task"]["name"] if record else None)
    protocol = protocol or (record["protocol"] if record else None)
    if task is None or protocol is None:
        raise UserInputError(f"{path}: no results.json beside samples.jsonl; pass --task and --protocol.")
    return task, protocol, record


def check_run_task(path: Path, record: dict | None, task: Any) -> None:
    """Refuse ``--task`` of another benchmark than the one that made the run (its records lack that scorer's fields)."""
    if record is None:
        return
    made_by, benchmark = record["task"].get("name"), record["task"].get("benchmark")
    if benchmark and task.benchmark and benchmark != task.benchmark:
        raise UserInputError(f"{path}: this run was made by task {made_by} (benchmark {benchmark}); --task "
                             f"{task.name} scores benchmark {task.benchmark}. Drop --task (it is read from "
                             f"results.json) or pass --task {made_by}.")
