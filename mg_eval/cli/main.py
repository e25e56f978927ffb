"""`mg-eval` entry point: a thin dispatcher over one module per sub-command.

Each sub-command lives in ``mg_eval/cli/<name>.py`` and exposes two functions:

* ``add_arguments(parser: argparse.ArgumentParser) -> None``
* ``run(args: argparse.Namespace) -> int``  (the process exit code)

plus a module docstring whose first line is the command's help text (repeated in ``COMMANDS``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mg_eval.errors import one_line, user_error_from
from mg_eval.tasks.registry import use_tasks_root

_TASKS_ROOT_HELP = "benchmark folders to use instead of the shipped tasks/ (every command; default: tasks/)"

# name -> (module under mg_eval.cli, help line = first line of its docstring); order = order in `mg-eval --help`.
# The help lines live here so that `mg-eval --help` imports no command module (no torch / pandas / matplotlib);
# only the command that runs is imported (tests/test_cli_lazy.py checks both).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "Run the whole loop on the bundled tiny random Mini-Gemini and every benchmark's sample data."),
    "run": ("run", "Evaluate one or more checkpoints on benchmark tasks (batched, resumable, data-parallel under "
                   "torchrun)."),
    "score": ("score", "Re-score saved predictions without a model (official formats or our samples.jsonl)."),
    "export": ("export", "Write a run's predictions as the file a benchmark's test server takes (formats declared "
                         "in benchmark.yaml)."),
    "results": ("results", "List and compare evaluation runs as a table; export CSV or markdown."),
    "tasks": ("tasks", "List the registered tasks and groups."),
    "validate": ("validate", "Check every task: YAML, data schema, one rendered prompt per protocol, scoring on a "
                             "fake response."),
    "ablate": ("ablate", "Reproduce an ablation table: evaluate each row's checkpoint, render it beside the "
                         "paper's numbers."),
    "plot": ("plot", "Leaderboard and ablation figures from any set of runs plus the paper's numbers (PNG + SVG)."),
    "report": ("report", "Write a static results site (leaderboard, run pages, sample browser, checkpoint compare) "
                         "for a results folder."),
    "train": ("train", "Train one Mini-Gemini stage (stage 1 alignment / stage 2 instruction tuning) with the "
                       "official recipe."),
    "watch": ("watch", "Follow a training run and evaluate each checkpoint as soon as it is complete (oldest first, "
                       "one model at a time)."),
}


def command_of(argv: list[str]) -> str | None:
    """The sub-command named in ``argv``: its first item that is a command name (``--tasks-root DIR`` may come
    first), or ``None``."""
    return next((item for item in argv if item in COMMANDS), None)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``mg-eval`` parser; only ``command``'s module is imported and given its options."""
    parser = argparse.ArgumentParser(prog="mg-eval", description="Mini-Gemini evaluation harness.")
    parser.add_argument("--tasks-root", default=None, metavar="DIR", help=_TASKS_ROOT_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text)
            continue
        try:
            module = importlib.import_module(f"mg_eval.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mg_eval.cli.{module_name}":
                continue  # command not built in this install
            raise
        command_parser = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command_parser)
        command_parser.add_argument("--tasks-root", default=argparse.SUPPRESS, metavar="DIR", help=_TASKS_ROOT_HELP)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        with use_tasks_root(args.tasks_root):
            return int(args._run(args) or 0)
    except Exception as exc:  # the one error boundary: user-caused failures -> one line, exit code 2
        user_error = user_error_from(exc)
        if user_error is None:
            raise  # a bug: keep the traceback
        print(f"mg-eval {args.command}: error: {one_line(str(user_error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nmg-eval {args.command}: interrupted; finished work is saved, rerun the same command to resume.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
