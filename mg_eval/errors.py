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


#: Errors of ``mg_model`` that a user causes (a bad checkpoint, config or input), by public location, and
#: the fix added to their message. ``mg_model`` does not import ``mg_eval``; the harness maps them here.
_MODEL_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("mg_model", "CheckpointError", "point --model at a complete checkpoint in the official layout "
                                    "(re-download or re-save it; --encoder-root for the vision encoders)"),
    ("mg_model", "MGMConfigError", "fix the checkpoint's config.json (or re-download it)"),
    ("mg_model.conversation", "MGMInputError", "fix the named input"),
    ("mg_model.train", "TrainingInputError", "fix the named file or option"),
)


def user_error_from(exc: BaseException, source: str | None = None) -> UserInputError | None:
    """The ``UserInputError`` a user-caused exception stands for, or ``None`` for a bug (keep the traceback).

    Maps ``UserInputError`` itself, ``mg_model``'s input errors (checked only when ``mg_model`` is
    already imported, so this imports nothing heavy), invalid UTF-8 and PIL's decompression-bomb error.
    ``source`` (e.g. ``"checkpoint /ckpt/MGM-7B"``) is prefixed when the message does not name it.
    The message is folded onto one line.
    """
    import sys

    if isinstance(exc, UserInputError):
        return exc
    message = None
    if any(name == "mg_model" or name.startswith("mg_model.") for name in sys.modules):
        import importlib

        for module_name, class_name, fix in _MODEL_ERRORS:
            cls = getattr(importlib.import_module(module_name), class_name, None)
            if cls is not None and isinstance(exc, cls):
                text = one_line(str(exc))
                message = text if "; " in text else f"{text.rstrip('.')}; {fix}"  # "; " = it gives a fix
                break
    if message is None and isinstance(exc, UnicodeDecodeError):
        message = (f"a file is not valid UTF-8 ({exc}); re-save it as UTF-8 (run `mg-eval validate` to find "
                   "which file)")
    if message is None and type(exc).__name__ == "DecompressionBombError":
        message = f"an image is too large to decode safely ({exc}); downscale it"
    if message is None:
        return None
    if source and source not in message:
        message = f"{source}: {message}"
    return UserInputError(one_line(message))


def one_line(text: str) -> str:
    """``text`` with its line breaks (and the indentation after them) folded into single spaces."""
    import re

    return re.sub(r"\s*\n\s*", " ", str(text)).strip()
