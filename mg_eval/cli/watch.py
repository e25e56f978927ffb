"""Follow a training run and evaluate each checkpoint as soon as it is complete (oldest first, one model at a time).

Examples::

    mg-eval train --model ckpt/mgm-7b-init --data train.json --image-folder data --output runs/stage2 --save-steps 500 &
    mg-eval watch runs/stage2 --tasks textvqa_val,mme --device cuda:1          # beside the trainer, another GPU
    mg-eval watch runs/stage2 --tasks mgm_paper --until 2000 --poll 120        # stop after step 2000
    mg-eval watch runs/stage1 --tasks mme --base ckpt/mgm-7b-init              # projector-only stage-1 checkpoints

Takes every option of ``mg-eval run`` except ``--model`` (the checkpoints come from RUN_DIR). Stops by itself
once the run's final model is evaluated; Ctrl-C stops it cleanly and a restart (also after kill -9) goes on
where it stopped, without evaluating a finished checkpoint again. Results: OUTPUT/<run>-step<N>/<task>/...,
each results.json with model.training = {step, run_dir, config_hash, ...}; `mg-eval plot --curve` draws them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mg_eval.cli import run as run_command
from mg_eval.errors import UserInputError

#: the run options that change what is evaluated (the watch ledger is kept per combination of them)
LEDGER_SETTINGS = ("tasks", "protocol", "limit", "data_path", "sample_data", "max_new_tokens_cap")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``RUN_DIR``, the polling options, and every option of ``mg-eval run`` but ``--model``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the training output folder (mg-eval train --output)")
    parser.add_argument("--poll", type=float, default=60.0, metavar="SECONDS",
                        help="seconds between two looks at RUN_DIR (default 60); a checkpoint is evaluated once its "
                             "files are complete and unchanged between two looks")
    parser.add_argument("--until", type=int, default=None, metavar="STEP",
                        help="stop once every checkpoint up to STEP is evaluated (default: the final model)")
    parser.add_argument("--max-polls", type=int, default=None, metavar="N", help="stop after N looks (default: no limit)")
    run_command.add_arguments(parser)
    for action in parser._actions:
        if action.dest == "model":  # the checkpoints come from RUN_DIR
            action.required, action.help = False, argparse.SUPPRESS


def check_inputs(args: argparse.Namespace) -> Path:
    """Bad tasks, data paths, judge options or output folder fail now, not at the first checkpoint; returns the
    output folder."""
    from mg_eval.cli.judge_options import judge_for_task
    from mg_eval.engine.runner import check_output_dir, resolve_task_objects

    names = [task.name for task in resolve_task_objects(run_command.split_list(args.tasks))]
    run_command.parse_data_paths(args.data_path, names)
    judge_for_task(args)
    return check_output_dir(args.output)


def make_watcher(args: argparse.Namespace, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Check the inputs and build the :class:`mg_eval.watch.Watcher` of ``args`` (``sleep``: the wait between
    polls; tests pass their own)."""
    from mg_eval.engine.checkpoints import model_spec
    from mg_eval.watch import Ledger, Watcher, WatchSettings, check_run_dir

    if args.model:
        raise UserInputError("mg-eval watch takes the training output folder as RUN_DIR, not --model; e.g. "
                             "mg-eval watch runs/stage2 --tasks mgm_paper")
    if args.poll <= 0 or (args.max_polls is not None and args.max_polls < 1):
        raise UserInputError(f"--poll {args.poll:g} must be > 0 seconds and --max-polls >= 1, e.g. --poll 60")
    if args.base and not (Path(args.base).expanduser() / "config.json").is_file():
        raise UserInputError(f"--base {args.base} is not a checkpoint folder (no config.json); pass the MGM "
                             "checkpoint the projector-only (stage-1) checkpoints are evaluated on")
    run_dir = Path(args.run_dir).expanduser()
    check_run_dir(run_dir)
    output = check_inputs(args)
    ledger = Ledger(output, run_dir, {name: getattr(args, name) for name in LEDGER_SETTINGS})

    def evaluate(checkpoint: Any) -> None:
        one = copy.copy(args)
        one.model = [model_spec(checkpoint, args.base)]
        run_command.run(one)

    return Watcher(run_dir, ledger, evaluate, WatchSettings(args.poll, args.until, args.max_polls), sleep=sleep,
                   report=lambda text: print(text, file=sys.stderr))


def run(args: argparse.Namespace) -> int:
    """Poll RUN_DIR until the final model (or --until) is evaluated; print what was done."""
    watcher = make_watcher(args)
    summary = watcher.run()
    deleted = f"; {len(summary.deleted)} deleted before evaluation (steps {summary.deleted})" if summary.deleted else ""
    print(f"watch of {watcher.run_dir} done: {summary.stopped}; evaluated steps {summary.evaluated or 'none'} in this "
          f"session{deleted}; ledger {watcher.ledger.path}")
    return 0


def watch_argv(args: argparse.Namespace) -> list[str]:
    """The ``mg-eval watch`` command line ``mg-eval train --eval-tasks ...`` starts beside the trainer."""
    return ["watch", args.output, "--tasks", args.eval_tasks, "--output", args.eval_output, "--device",
            args.eval_device, "--poll", str(args.eval_poll), *shlex.split(args.eval_args)]


@contextlib.contextmanager
def watch_beside_training(args: argparse.Namespace) -> Iterator[subprocess.Popen | None]:
    """With ``--eval-tasks``: check the watch options now (before training), start ``mg-eval watch`` on the
    training output in a child process (rank 0 only), and after training wait for it to evaluate the final
    model. When training fails the watcher is stopped (a later ``mg-eval watch`` resumes it)."""
    if not args.eval_tasks:
        if args.eval_args:
            raise UserInputError("--eval-args needs --eval-tasks (the tasks to evaluate each checkpoint on)")
        yield None
        return
    from mg_eval.cli.main import build_parser

    argv = watch_argv(args)
    try:
        watch_args = build_parser("watch").parse_args(argv)
    except SystemExit:
        raise UserInputError(f"--eval-args {args.eval_args!r}: not valid `mg-eval watch` options (see mg-eval watch "
                             "--help)") from None
    try:
        check_inputs(watch_args)
    except UserInputError as exc:
        raise UserInputError(f"evaluation beside training (--eval-tasks / --eval-args): {exc}") from None
    if int(os.environ.get("RANK", "0")) != 0:
        yield None
        return
    command = [sys.executable, "-m", "mg_eval.cli.main", *argv]
    print(f"evaluating checkpoints beside training: {shlex.join(['mg-eval', *argv])}", file=sys.stderr)
    process = subprocess.Popen(command)
    try:
        yield process
    except BaseException:
        process.terminate()
        process.wait()
        raise
    code = process.wait()
    if code != 0:
        raise UserInputError(f"the evaluation beside training ({shlex.join(['mg-eval', *argv])}) exited with code "
                             f"{code}; training is done, rerun that command to finish the evaluation")
