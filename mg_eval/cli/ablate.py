"""Reproduce an ablation table: evaluate each row's checkpoint, render it beside the paper's numbers.

Examples:
  mg-eval ablate ablations/info_mining.yaml --checkpoint-root /ckpt
  mg-eval ablate ablations/data_token_extension.yaml --render-only
  mg-eval ablate ablations/info_mining.yaml --limit 50 --test permutation --resamples 5000
  mg-eval ablate my_spec.yaml --sample-data --max-new-tokens-cap 8      # smoke test on bundled samples

Rows whose checkpoint does not exist yet show as "pending". Runs are resumable: rerunning the command
evaluates only what is missing (or was made from other weights). The table is written as markdown,
LaTeX and CSV to OUTPUT/<spec name>.{md,tex,csv} and printed as markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from mg_eval.ablation.run import find_row_runs, run_ablation
from mg_eval.ablation.spec import AblationSpec, load_spec
from mg_eval.analysis.tables import StatsSettings, build_table, render_markdown, write_table
from mg_eval.cli.judge_options import add_judge_arguments, judge_for_task
from mg_eval.cli.run_options import run_options_from_args
from mg_eval.cli.shared_flags import (
    RESULTS_ROOT,
    add_bootstrap_arguments,
    add_output_argument,
    check_bootstrap_options,
)
from mg_eval.errors import UserInputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `mg-eval ablate`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("spec", help="ablation spec, e.g. ablations/info_mining.yaml")
    add_output_argument(parser, what=f"results folder of this ablation (default: {RESULTS_ROOT}/ablations/<spec name>)")
    parser.add_argument("--checkpoint-root", default=None,
                        help="folder that relative checkpoint paths in the spec are taken from (default: cwd)")
    parser.add_argument("--rows", default=None, help="comma-separated row ids to evaluate (default: all)")
    parser.add_argument("--render-only", action="store_true",
                        help="do not evaluate anything; render the table from the runs already on disk")
    parser.add_argument("--train", action="store_true",
                        help="first build the missing checkpoints from each row's delta with the training recipe "
                             "<spec>.train.yaml beside the spec (mg_eval.ablation.train; docs/training.md)")
    engine = parser.add_argument_group("evaluation (passed to the engine)")
    engine.add_argument("--batch-size", type=int, default=8)
    engine.add_argument("--limit", type=int, default=None,
                        help="first N samples per task (quick look; the table is marked as not for reporting)")
    engine.add_argument("--data-path", action="append", default=[], metavar="TASK=PATH",
                        help="local data of a task (repeatable); without it tasks load their hub dataset")
    engine.add_argument("--sample-data", action="store_true",
                        help="use each task's bundled sample data (a smoke test, not a paper number)")
    engine.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default auto)")
    engine.add_argument("--dtype", default="auto", help="float16, bfloat16, float32 (default auto)")
    engine.add_argument("--max-new-tokens-cap", type=int, default=None,
                        help="cap every task's max_new_tokens (quick looks only; changes scores)")
    judge = parser.add_argument_group("judge (for the benchmarks whose benchmark.yaml declares a judge role)")
    add_judge_arguments(judge, default="none", max_ungraded=False,
                        judge_help="Judge for the judge steps; default none: those samples are reported as ungraded.")
    stats = parser.add_argument_group("statistics")
    add_bootstrap_arguments(stats, resamples=2000, what="bootstrap / permutation resamples")
    stats.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    stats.add_argument("--test", choices=("bootstrap", "permutation"), default="bootstrap",
                       help="paired test for each Δ (default: paired bootstrap)")


def run(args: argparse.Namespace) -> int:
    """Evaluate (unless --render-only), then render and write the table."""
    spec = load_spec(args.spec)
    settings = _settings(args)
    output = Path(args.output) if args.output else Path(RESULTS_ROOT) / "ablations" / spec.name
    rows = [r.strip() for r in args.rows.split(",") if r.strip()] if args.rows else None
    data_paths = _data_paths(spec, args)
    judge = judge_for_task(args)
    if judge is not None and not args.render_only:  # build every judge now: a missing key fails before any work
        from mg_eval.tasks import get_task

        for name in spec.tasks:
            judge(get_task(name))
    options = run_options_from_args(args, output_dir=str(output), judge=judge, data_paths=data_paths)
    if not args.render_only:  # bad engine settings fail before any row is trained or evaluated
        from mg_eval.engine.runner import check_run_options

        check_run_options(options)
    if args.train:  # --data-path wins over the recipe's eval data
        data_paths = {**train_missing_rows(spec, args, rows), **data_paths}
        options = dataclasses.replace(options, data_paths=data_paths)
    if not args.render_only:
        outcomes = run_ablation(spec, output, options=options, checkpoint_root=args.checkpoint_root, rows=rows)
        for outcome in outcomes:
            tasks = f" ({', '.join(outcome.evaluated_tasks)})" if outcome.evaluated_tasks else ""
            print(f"{outcome.row_id}: {outcome.status}{tasks}")
    table = build_table(spec, find_row_runs(spec, output, args.limit), settings, args.checkpoint_root)
    paths = write_table(table, output)
    print(render_markdown(table))
    if spec.seeds:  # mean over seeds and the pre-registered criterion (mg_eval.analysis.seed_summary)
        from mg_eval.analysis.seed_summary import render_seed_markdown, summarize_seeds, write_seed_summary

        summary = summarize_seeds(table)
        paths.update({f"seeds_{k}": v for k, v in write_seed_summary(summary, output, spec.name).items()})
        print(render_seed_markdown(summary))
    print("written: " + ", ".join(str(path) for path in paths.values()))
    return 0


def _settings(args: argparse.Namespace) -> StatsSettings:
    check_bootstrap_options(args.resamples, args.seed)
    if not 0 < args.confidence < 1:
        raise UserInputError(f"--confidence must be between 0 and 1 (e.g. 0.95), got {args.confidence}")
    return StatsSettings(n_resamples=args.resamples, confidence=args.confidence, seed=args.seed, test=args.test)


def _data_paths(spec: AblationSpec, args: argparse.Namespace) -> dict[str, str]:
    """``--data-path`` items and, with ``--sample-data``, each task's bundled sample folder."""
    from mg_eval.cli.run import parse_data_paths

    paths = parse_data_paths(args.data_path, spec.tasks)
    if args.sample_data:
        from mg_eval.tasks import get_task

        for name in spec.tasks:
            sample = getattr(get_task(name), "sample_path", None)
            if sample is None:
                raise UserInputError(f"task {name} ships no sample data; drop --sample-data or pass --data-path")
            paths.setdefault(name, str(sample))
    return paths


def train_missing_rows(spec: AblationSpec, args: argparse.Namespace, rows: list[str] | None) -> dict[str, str]:
    """``--train``: build each missing row's checkpoint from its delta (``mg_eval.ablation.train``).

    Returns the evaluation data paths the training recipe names (``eval_data``), task -> path.
    """
    try:
        from mg_eval.ablation.train import train_missing_rows as build_missing_rows
        from mg_model.train.data import TrainingInputError
    except ImportError as exc:
        raise UserInputError(
            f"training support not installed ({exc}); install the training extra with "
            "`pip install -e '.[train]'`, or build the checkpoints elsewhere and rerun without --train"
        ) from exc
    try:
        options = build_missing_rows(spec, checkpoint_root=args.checkpoint_root, row_ids=rows)
    except TrainingInputError as exc:
        raise UserInputError(str(exc)) from exc
    return dict(options.get("data_paths") or {})
