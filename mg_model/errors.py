"""The error classes of ``mg_model``, in one place.

Each message names the file / field / sample at fault and the fix. ``mg_model`` does not depend on
``mg_eval``; the harness turns these into its own ``UserInputError`` where a user caused them.

* :class:`MGMError` — base of every error below (catch it to handle any bad input to ``mg_model``);
* :class:`CheckpointError` — a checkpoint folder is incomplete, unreadable or does not match the model;
* :class:`MGMConfigError` — an MGM config is unknown, inconsistent or names a field that does not exist;
* :class:`MGMInputError` — bad input to the processor, a template or the image generator;
* :class:`TrainingInputError` — bad training input (data file, sample, option).

The classes keep the bases they always had (``RuntimeError`` / ``ValueError``), so existing ``except``
clauses still catch them; they are also importable from their former modules (``loading``,
``configuration_mgm``, ``conversation``, ``train.data``).
"""

from __future__ import annotations


class MGMError(Exception):
    """Base of every error ``mg_model`` raises on bad input (checkpoint, config, processor, training)."""


class CheckpointError(MGMError, RuntimeError):
    """A checkpoint directory is incomplete or does not match the model (one report for all keys)."""


class MGMConfigError(MGMError, ValueError):
    """An MGM config is unknown, inconsistent or names a field that does not exist."""


class MGMInputError(MGMError, ValueError):
    """Bad input to the processor or a template (message names the field and the fix)."""


class TrainingInputError(MGMError, ValueError):
    """Bad training input (data file, sample, option); the message names it and the fix.

    ``mg_model`` does not depend on ``mg_eval``; the ``mg-eval train`` command turns this into a
    ``UserInputError``.
    """
