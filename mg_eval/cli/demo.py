"""Run the whole loop on the bundled tiny random Mini-Gemini and every benchmark's sample data.

Builds the tiny checkpoint once into a cache folder, evaluates the groups of :data:`DEMO_TASKS` on
their bundled sample data with protocol ``mgm`` (no judge), writes real results and prints the summary table.
The weights are random: the scores are meaningless and only show that the machinery works.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from mg_eval.cli.shared_flags import add_output_argument

DEFAULT_CACHE = Path(os.path.expanduser("~/.cache/mg_eval"))
RANDOM_WEIGHTS_NOTE = ("NOTE: the demo model has RANDOM weights; these scores are meaningless and only show "
                       "that loading, batching, resuming, scoring and the results store work.\n"
                       "For real numbers: mg-eval run --model /path/to/MGM-7B --tasks mgm_paper")


#: What the demo evaluates on the bundled samples: the paper's six benchmarks, the extended group, the
#: high-resolution readers and the OpenVLM leaderboard's eight (a task in several groups runs once).
DEMO_TASKS = ("mgm_paper", "mgm_extended", "hd_reading", "openvlm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mg-eval demo``."""
    add_output_argument(parser, what="results root for the demo", default="runs/demo")
    parser.add_argument("--cache-dir", default=str(DEFAULT_CACHE), metavar="DIR",
                        help="where the tiny checkpoint is built once (default ~/.cache/mg_eval)")
    parser.add_argument("--tasks", default=",".join(DEMO_TASKS),
                        help=f"tasks or groups (default {','.join(DEMO_TASKS)})")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per generate call (default 8)")
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: cores - 1)")
    parser.add_argument("--max-new-tokens-cap", type=int, default=16,
                        help="cap on generated tokens (random weights rarely stop by themselves; default 16)")
    parser.add_argument("--fresh", action="store_true", help="recompute instead of resuming")


def tiny_checkpoint(cache_dir: str | Path) -> Path:
    """The tiny random checkpoint under ``cache_dir`` (built on first use, seed 0)."""
    from mg_model import build_tiny_checkpoint

    path = Path(cache_dir) / "tiny-mgm"
    if not (path / "config.json").is_file():
        print(f"building the tiny random checkpoint in {path} ...")
        build_tiny_checkpoint(str(path), seed=0)
    return path


def run(args: argparse.Namespace) -> int:
    """Build, evaluate, print the table and the random-weights note."""
    from mg_eval.cli.results import load_runs, to_markdown
    from mg_eval.cli.run import split_list
    from mg_eval.engine import evaluate
    from mg_eval.engine.runner import resolve_task_objects

    started = time.perf_counter()
    tasks = resolve_task_objects(split_list([args.tasks]))
    data_paths = {task.name: str(task.sample_path) for task in tasks if getattr(task, "sample_path", None)}
    tasks = [task for task in tasks if task.name in data_paths]
    checkpoint = tiny_checkpoint(args.cache_dir)
    outcomes = evaluate(checkpoint, tasks, protocol="mgm", batch_size=args.batch_size, limit=None,
                        output_dir=args.output, judge=None, num_workers=args.num_workers, dtype="float32",
                        device="cpu", data_paths=data_paths, fresh=args.fresh,
                        generation_overrides={"max_new_tokens_cap": args.max_new_tokens_cap})
    frame = load_runs(args.output)
    latest = {outcome.run_dir.name for outcome in outcomes if outcome.run_dir is not None}
    table = frame[frame["run_id"].isin(latest)][["task", "metric", "value", "n", "ungraded"]]
    table = table.sort_values("task").rename(columns={"value": "score (random weights)",
                                                      "ungraded": "ungraded (no judge)"})
    print()
    print(to_markdown(table))
    computed = sum(outcome.n_computed for outcome in outcomes)
    resumed = sum(outcome.n_resumed for outcome in outcomes)
    print(f"{len(outcomes)} task runs, {computed} samples generated, {resumed} resumed from the store, "
          f"{time.perf_counter() - started:.1f} s; results under {args.output} (see `mg-eval results --root "
          f"{args.output}`)")
    print(RANDOM_WEIGHTS_NOTE)
    return 0
