"""The judge interface the scorers call.

A judge turns one prompt into one completion. Scorers never know which kind of judge they hold
(an OpenAI-compatible API, a local transformers model, a scripted fake in tests); they only call
``complete`` and record ``judge.name``. ``judge=None`` everywhere means "no judge": judge-dependent
steps then count the samples they could not grade and report that count, never a silent 0.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mg_eval.errors import JudgeError

__all__ = ["Judge", "JudgeError", "for_run"]


@runtime_checkable
class Judge(Protocol):
    """Anything that completes a prompt. Implementations live beside this file."""

    #: Recorded in results, e.g. ``"openai:gpt-4-0613"`` or ``"local:/models/qwen"``.
    name: str

    def complete(
        self,
        prompt: str,
        *,
        max_tokens: int,
        temperature: float = 0.0,
        system: str | None = None,
    ) -> str:
        """Return the completion text for ``prompt``.

        Raises:
            JudgeError: the judge could not answer (after its own retries).
        """
        ...


def for_run(judge: Judge | None, run: int) -> Judge | None:
    """The judge to use for the ``run``-th independent repetition of a grading pass (0-based).

    MM-Vet grades ``num_run`` times and averages; with a completion cache the repetitions must not
    share answers. A caching judge provides ``for_run(run)`` (a view with its own cache keys; run 0
    keeps the single-run keys); any other judge is returned as is.
    """
    if judge is None or run == 0:
        return judge
    fork = getattr(judge, "for_run", None)
    return fork(run) if callable(fork) else judge
