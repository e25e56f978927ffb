"""`mg-eval --help` and `mg-eval tasks` import no heavy library; the command table matches the modules."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from mg_eval.cli.main import COMMANDS, build_parser

HEAVY = ("torch", "pandas", "matplotlib", "transformers")

PROBE = """
import contextlib, io, json, sys
from mg_eval.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules], "out": out.getvalue()}))
""".replace("HEAVY", repr(HEAVY))


def _probe(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("tasks",), ()])
def test_help_and_tasks_import_no_heavy_library(argv):
    result = _probe(*argv)
    assert result["heavy"] == [], f"mg-eval {' '.join(argv)} imported {result['heavy']}"
    if argv == ("tasks",):
        assert result["code"] == 0 and "textvqa_val" in result["out"]
    else:
        assert all(name in result["out"] for name in COMMANDS)  # every command is listed with its help line


def test_the_probe_can_see_heavy_imports():
    """The check is not vacuous: a command that needs torch does import it."""
    result = _probe("run", "--help")
    assert "torch" in result["heavy"]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_line_is_the_module_docstring_first_line(name):
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(f"mg_eval.cli.{module_name}")
    assert help_text == module.__doc__.strip().splitlines()[0]


def test_only_the_chosen_command_gets_its_options():
    parser = build_parser("score")
    args = parser.parse_args(["score", "x.json", "--judge", "none"])
    assert args.judge == "none" and callable(args._run)
