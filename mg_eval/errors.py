"""Exceptions shared across the harness."""

from __future__ import annotations


class MGEvalError(Exception):
    """Base class of the harness's errors."""


class UserInputError(MGEvalError):
    """Bad input from the user (a file, field, sample or option). The message names it and the fix."""


class DataError(UserInputError):
    """A dataset file or record does not match the schema the task expects."""


class JudgeError(MGEvalError):
    """A judge call failed (network, refusal, unparsable answer after retries)."""
