"""Re-score saved predictions without a model (official formats or our samples.jsonl).

Formats (detected, or named with --format):
  samples          a run directory / samples.jsonl written by `mg-eval run` (task aggregate re-run)
  and the official formats each benchmark declares (tasks/<benchmark>/benchmark.yaml: prediction_formats;
  listed below).

Prints the scores as a table and writes results.json + samples.jsonl (results/SCHEMA.md) under
<output>/<model>/<task>/<run_id>/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mg_eval.cli.judge_options import add_judge_arguments, judge_for_benchmark, ungraded_hint
from mg_eval.cli.shared_flags import RESULTS_ROOT, add_output_argument
from mg_eval.errors import JudgeError, UserInputError
from mg_eval.rescore import (
    SAMPLES_FORMAT,
    ScoreOptions,
    ScoreResult,
    detect_format,
    prediction_formats,
    score_predictions,
)
from mg_eval.rescore.flow import PER_SAMPLE_KEY, write_score_results

__all__ = ["add_arguments", "run", "format_scores"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``mg-eval score``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "official formats of the shipped benchmarks:\n" + "\n".join(
        f"  {name:<16} {fmt.description}" for name, fmt in prediction_formats().items())
    parser.add_argument("path", type=Path, help="prediction file or folder")
    parser.add_argument("--format", default=None,
                        help=f"prediction format: {SAMPLES_FORMAT} or an official one (default: detected from the path)")
    parser.add_argument("--annotation", type=Path, default=None,
                        help="ground truth / metadata file the format needs (see the list above)")
    parser.add_argument("--grades", type=Path, default=None,
                        help="grade file of an earlier judge pass whose grades are reused (formats that grade)")
    parser.add_argument("--num-runs", type=int, default=1,
                        help="judge grading runs to average (formats that grade; default 1)")
    add_judge_arguments(parser, default="paper",
                        judge_help="Judge for the benchmarks that declare one; default paper: the paper's judge, "
                                   "built only if a sample needs it.")
    parser.add_argument("--task", default=None,
                        help="samples format: task name (default: from results.json); official formats: the task "
                             "whose format to use when several could read the file")
    parser.add_argument("--protocol", default=None, help="samples format: protocol (default: from results.json)")
    parser.add_argument("--model-name", default=None, help="model name in the results path (default: the input's name)")
    add_output_argument(parser, what="results root", default=RESULTS_ROOT, type=Path)
    parser.add_argument("--no-write", action="store_true", help="print the scores only")


def _judge_factory(args: argparse.Namespace) -> Callable[[str], Any] | None:
    """``benchmark -> Judge`` built from the --judge options, or ``None`` for ``--judge none``."""
    by_benchmark = judge_for_benchmark(args)
    if by_benchmark is None:
        return None

    def build(benchmark: str) -> Any:
        judge = by_benchmark(benchmark)
        if judge is None:
            raise UserInputError(f"--judge {args.judge} gives no judge for {benchmark}, but some samples need "
                                 "one; name a judge, e.g. --judge openai:gpt-4-0613.")
        return judge

    return build


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_scores(scores: Mapping[str, Any], indent: str = "") -> list[str]:
    """Table lines: ``name  value``, nested tables indented under their name."""
    width = max((len(str(key)) for key in scores), default=0)
    lines = []
    for key, value in scores.items():
        if isinstance(value, Mapping):
            lines.append(f"{indent}{key}:")
            lines.extend(format_scores(value, indent + "  "))
        elif isinstance(value, list):
            lines.append(f"{indent}{str(key):<{width}}  {', '.join(_format_value(v) for v in value)}")
        else:
            lines.append(f"{indent}{str(key):<{width}}  {_format_value(value)}")
    return lines


def _print_result(result: ScoreResult) -> None:
    primary = result.scores.get(result.primary_metric)
    print(f"{result.task} ({result.source_format}, {result.n_samples} samples): "
          f"{result.primary_metric} = {_format_value(primary)}")
    print(f"judge: {result.judge or 'none used'}")
    print("\n".join(format_scores({k: v for k, v in result.scores.items() if k != PER_SAMPLE_KEY})))
    missing = result.scores.get("missing_categories")
    if missing:
        print(f"warning: no predictions for {', '.join(missing)}; the totals cover the other sub-tasks only.",
              file=sys.stderr)


def _check_ungraded(result: ScoreResult, threshold: float) -> None:
    n_ungraded = result.scores.get("n_ungraded")
    if not n_ungraded:
        return
    print(f"warning: {n_ungraded} sample(s) could not be graded and are left out of the scores; "
          f"{ungraded_hint(result.judge)}.", file=sys.stderr)
    from mg_eval.judges.stats import check_ungraded

    total = result.scores.get("n_questions") or result.n_samples
    try:
        check_ungraded(n_ungraded, total, threshold, task=result.task, judge_name=result.judge)
    except JudgeError as exc:  # TooManyUngradedError: report it as a user-facing failure (exit code 2)
        raise UserInputError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    """Score ``args.path``; print the table; write the results record unless ``--no-write``."""
    if args.num_runs < 1:
        raise UserInputError(f"--num-runs must be >= 1, got {args.num_runs}.")
    fmt = args.format or detect_format(args.path, args.task)
    options = ScoreOptions(annotation=args.annotation, grades=args.grades, num_runs=args.num_runs)
    result = score_predictions(args.path, fmt, judge_factory=_judge_factory(args), options=options,
                               task=args.task, protocol=args.protocol)
    _print_result(result)
    if not args.no_write:  # written before the ungraded check, as `mg-eval run` does: the work is kept
        from mg_eval.judges.factory import judge_report

        model_name = args.model_name or args.path.resolve().name.removesuffix(".json")
        directory = write_score_results(result, args.output, model_name, judge_report(result.judge_object))
        print(f"wrote {directory}")
    _check_ungraded(result, args.max_ungraded)
    return 0
