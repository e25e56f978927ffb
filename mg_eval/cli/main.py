"""`mg-eval` entry point: a thin dispatcher over one module per sub-command.

Each sub-command lives in ``mg_eval/cli/<name>.py`` and exposes two functions:

* ``add_arguments(parser: argparse.ArgumentParser) -> None``
* ``run(args: argparse.Namespace) -> int``  (the process exit code)

plus a module docstring whose first line is the command's help text.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mg_eval.errors import one_line, user_error_from
from mg_eval.tasks.registry import use_tasks_root

_TASKS_ROOT_HELP = "benchmark folders to use instead of the shipped tasks/ (every command; default: tasks/)"

# name -> module under mg_eval.cli ; order = order in `mg-eval --help`
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "run": "run",
    "score": "score",
    "export": "export",
    "results": "results",
    "tasks": "tasks",
    "validate": "validate",
    "ablate": "ablate",
    "plot": "plot",
    "report": "report",
    "train": "train",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mg-eval", description="Mini-Gemini evaluation harness.")
    parser.add_argument("--tasks-root", default=None, metavar="DIR", help=_TASKS_ROOT_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"mg_eval.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"mg_eval.cli.{module_name}":
                continue  # command not built in this install
            raise
        help_text = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else None
        command_parser = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command_parser)
        command_parser.add_argument("--tasks-root", default=argparse.SUPPRESS, metavar="DIR", help=_TASKS_ROOT_HELP)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
