"""Check every task: YAML, data schema, one rendered prompt per protocol, scoring on a fake response.

Examples:
  mg-eval validate                                   # all tasks on their bundled sample data
  mg-eval validate --tasks mgm_paper --show-prompts
  mg-eval validate --tasks mme --data-path /data/MME_Benchmark_release_version
Exit status 1 when any check fails (each failure is listed with its task and reason).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from mg_eval.api import Benchmark
from mg_eval.errors import UserInputError
from mg_eval.tasks import PROTOCOLS, Task, resolve_tasks
from mg_eval.tasks.config import FunctionRef
from mg_eval.tasks.registry import current_root, default_registry

__all__ = ["add_arguments", "run", "validate_task", "TaskReport"]

_SHA = re.compile(r"^[0-9a-f]{40}$")
_FAKE_RESPONSE = "A"


@dataclasses.dataclass
class TaskReport:
    """What ``validate_task`` found for one task."""

    task: str
    n_docs: int = 0
    prompts: dict[str, str] = dataclasses.field(default_factory=dict)
    n_images: dict[str, int] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mg-eval validate``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--tasks", nargs="*", default=None, help="task or group names (default: every task)")
    parser.add_argument("--data-path", type=Path, default=None,
                        help="a local copy to check instead of the bundled sample (needs exactly one task)")
    parser.add_argument("--limit", type=int, default=None, help="check only the first N docs")
    parser.add_argument("--show-prompts", action="store_true", help="print the rendered prompts")


def validate_task(task: Task, data_path: Path | None = None, limit: int | None = None) -> TaskReport:
    """Load ``task``'s docs (sample or ``data_path``), render doc 0 per protocol, score a fake response."""
    report = TaskReport(task.name)
    if task.config.revision is None or not _SHA.match(str(task.config.revision)):
        report.warnings.append(f"hub revision '{task.config.revision}' is not a pinned commit sha")
    if data_path is None and task.sample_path is None:
        report.warnings.append("ships no sample data: prompts and scoring not checked (pass --data-path)")
        return report
    try:
        docs = task.load(data_path, limit) if data_path else task.load_sample(limit)
        report.n_docs = len(docs)
        for protocol in PROTOCOLS:
            report.prompts[protocol] = task.doc_to_text(docs[0], protocol)
            report.n_images[protocol] = len(task.doc_to_visual(docs[0], protocol))
            if not report.prompts[protocol].strip():
                report.errors.append(f"protocol {protocol}: empty prompt for doc {docs[0]['doc_id']}")
            task.generation_kwargs(protocol)
            records = [task.process_result(doc, _FAKE_RESPONSE, protocol) for doc in docs]
            scores = task.aggregate(records, protocol, judge=None)
            if task.primary_metric not in scores:
                report.errors.append(f"protocol {protocol}: aggregate lacks '{task.primary_metric}'")
    except UserInputError as exc:
        report.errors.append(str(exc))
    return report


def _print_report(report: TaskReport, show_prompts: bool) -> None:
    status = "FAIL" if report.errors else "ok"
    images = ", ".join(f"{p}: {n} image(s)" for p, n in report.n_images.items())
    print(f"[{status:4s}] {report.task}: {report.n_docs} docs; {images}")
    for warning in report.warnings:
        print(f"       warning: {warning}")
    for error in report.errors:
        print(f"       error: {error}")
    if show_prompts:
        for protocol, prompt in report.prompts.items():
            print(f"       --- {protocol} prompt ---")
            print("\n".join("       | " + line for line in prompt.split("\n")))


def _check_declaration(declaration: Benchmark) -> int:
    """Resolve every function a ``benchmark.yaml`` names; print a FAIL line per broken one (returns their count)."""
    failed = 0
    for fmt in declaration.prediction_formats:
        for ref in (fmt.detect, fmt.read, fmt.aggregate, fmt.to_samples):
            try:
                if isinstance(ref, FunctionRef):
                    ref.resolve()
            except UserInputError as exc:
                print(f"[FAIL] {declaration.folder / 'benchmark.yaml'}: prediction format {fmt.name}: {exc}")
                failed += 1
    for export in declaration.export_formats:
        try:
            export.write.resolve()
        except UserInputError as exc:
            print(f"[FAIL] {declaration.folder / 'benchmark.yaml'}: export format {export.name}: {exc}")
            failed += 1
    return failed


def run(args: argparse.Namespace) -> int:
    """Validate the chosen tasks; exit 1 if a YAML is broken or any task fails."""
    if args.limit is not None and args.limit < 1:
        raise UserInputError(f"--limit must be a positive number of docs, got {args.limit}")
    registry = default_registry(current_root())
    failed = 0
    for path, message in registry.errors:
        print(f"[FAIL] {path}: {message}")
        failed += 1
    for declaration in registry.benchmarks.values():
        failed += _check_declaration(declaration)
    tasks = resolve_tasks(args.tasks) if args.tasks else [registry.get_task(n) for n in sorted(registry.tasks)]
    if args.data_path is not None and len(tasks) != 1:
        raise UserInputError(f"--data-path needs exactly one task, got {len(tasks)}; add --tasks <name>.")
    for task in tasks:
        report = validate_task(task, args.data_path, args.limit)
        _print_report(report, args.show_prompts)
        failed += bool(report.errors)
    print(f"{len(tasks)} task(s) checked, {failed} failure(s).")
    return 1 if failed else 0
