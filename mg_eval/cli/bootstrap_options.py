"""The one check of the bootstrap settings (``--resamples``, ``--seed``) of ``mg-eval plot``, ``report`` and
``ablate``: the same rule and the same error line in every command that takes them.

Not a command. ``--seed`` here is the resampling seed of the confidence intervals and tests (numpy's generator
takes only non-negative integers); ``mg-eval train --seed`` is a training seed and is not checked here.
"""

from __future__ import annotations

from mg_eval.errors import UserInputError

__all__ = ["check_bootstrap_options"]


def check_bootstrap_options(resamples: int, seed: int) -> None:
    """``UserInputError`` naming the flag when ``resamples`` < 1 or ``seed`` is negative."""
    if resamples < 1:
        raise UserInputError(f"--resamples must be >= 1 (bootstrap resamples, e.g. 1000), got {resamples}")
    if seed < 0:
        raise UserInputError(f"--seed must be >= 0 (the bootstrap seed, e.g. 0), got {seed}")
