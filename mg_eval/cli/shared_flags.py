"""The flags several commands share, each defined here once with one meaning (not a command).

* ``--output``: where the command writes (a folder, or ``mg-eval export``'s file); each command names what
  goes there and its default; the results root of ``run`` / ``score`` / ``demo``-style commands is
  :data:`RESULTS_ROOT`.
* ``--resamples`` / ``--seed``: the bootstrap (or permutation) resamples and their seed, for the confidence
  intervals and paired tests of ``plot``, ``report`` and ``ablate``; checked by :func:`check_bootstrap_options`.
  A training seed is ``mg-eval train --train-seed`` (its ``--seed`` spelling is a deprecated alias).
* ``--reference``: the paper's leaderboard CSV (``plot``, ``report``). ``mg-eval results`` names published
  rows by label with ``--reference-rows`` (its ``--reference`` spelling is a deprecated alias).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mg_eval.errors import UserInputError

__all__ = ["DEFAULT_REFERENCE", "RESULTS_ROOT", "add_bootstrap_arguments", "add_output_argument",
           "add_reference_argument", "add_reference_rows_argument", "add_train_seed_argument",
           "check_bootstrap_options"]

#: the default results root (``mg-eval run`` / ``score`` write there, ``train --eval-output`` too)
RESULTS_ROOT = "results"
#: the paper's Table 1, shipped inside the package (found from any working directory, wheel or checkout)
DEFAULT_REFERENCE = Path(__file__).resolve().parents[1] / "analysis" / "reference" / "paper_table1_leaderboard.csv"


class DeprecatedAlias(argparse.Action):
    """An old spelling of a flag: stores into the new flag's ``dest`` and prints one ``note:`` line."""

    def __init__(self, option_strings: list[str], dest: str, replacement: str = "", **kwargs: Any) -> None:
        self.replacement = replacement
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"note: {option_string} is deprecated here; use {self.replacement} (same meaning)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_output_argument(parser: Any, *, what: str, default: str | None = None, required: bool = False,
                        metavar: str = "DIR", type: Any = None) -> None:
    """``--output``: where this command writes ``what``; ``default`` is named in the help."""
    suffix = f" (default: {default})" if default is not None else ""
    parser.add_argument("--output", default=default, required=required, metavar=metavar,
                        help=f"{what}{suffix}", **({"type": type} if type is not None else {}))


def add_bootstrap_arguments(parser: Any, *, resamples: int, what: str = "bootstrap resamples") -> None:
    """``--resamples N`` (default ``resamples``) and ``--seed`` (the resampling seed, default 0)."""
    parser.add_argument("--resamples", type=int, default=resamples, metavar="N", help=f"{what} (default {resamples})")
    parser.add_argument("--seed", type=int, default=0,
                        help="resampling seed of the intervals and tests (default 0; the same seed gives the same numbers)")


def check_bootstrap_options(resamples: int, seed: int) -> None:
    """``UserInputError`` naming the flag when ``resamples`` < 1 or ``seed`` is negative (numpy's generator
    takes only non-negative seeds)."""
    if resamples < 1:
        raise UserInputError(f"--resamples must be >= 1 (bootstrap resamples, e.g. 1000), got {resamples}")
    if seed < 0:
        raise UserInputError(f"--seed must be >= 0 (the bootstrap seed, e.g. 0), got {seed}")


def add_reference_argument(parser: Any, *, default: str | None) -> None:
    """``--reference CSV``: the paper's leaderboard table (``default``: :data:`DEFAULT_REFERENCE` or ``None``)."""
    parser.add_argument("--reference", default=default, metavar="CSV",
                        help="the paper's leaderboard CSV (default: the paper's Table 1 shipped with mg_eval, "
                             "mg_eval/analysis/reference/paper_table1_leaderboard.csv)")


def add_reference_rows_argument(parser: Any, *, help: str) -> None:
    """``--reference-rows [LABEL ...]`` (``dest`` ``reference_rows``), with ``--reference`` as a deprecated alias."""
    parser.add_argument("--reference-rows", nargs="*", default=None, metavar="LABEL", help=help)
    parser.add_argument("--reference", dest="reference_rows", nargs="*", action=DeprecatedAlias,
                        replacement="--reference-rows", metavar="LABEL", help=argparse.SUPPRESS)


def add_train_seed_argument(parser: Any) -> None:
    """``--train-seed N`` (``dest`` ``train_seed``, default 0), with ``--seed`` as a deprecated alias."""
    parser.add_argument("--train-seed", type=int, default=0,
                        help="training seed: the torch seed and the data order (default 0)")
    parser.add_argument("--seed", dest="train_seed", type=int, action=DeprecatedAlias, replacement="--train-seed",
                        help=argparse.SUPPRESS)
