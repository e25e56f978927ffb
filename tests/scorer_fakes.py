"""A scripted judge for the scorers' judge-dependent paths (no network, no model)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mg_eval.errors import JudgeError


class ScriptedJudge:
    """Answers from a script and records every call.

    ``script`` is either a list of answers consumed in order (an ``Exception`` instance is raised instead
    of returned), or a function ``prompt -> answer``.
    """

    name = "scripted:test"

    def __init__(self, script: Iterable[str | Exception] | Callable[[str], str]) -> None:
        self._function = script if callable(script) else None
        self._answers = None if callable(script) else list(script)
        self.calls: list[dict] = []

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, system: str | None = None) -> str:
        self.calls.append({"prompt": prompt, "max_tokens": max_tokens, "temperature": temperature})
        if self._function is not None:
            return self._function(prompt)
        if not self._answers:
            raise JudgeError("scripted judge: no answer left")
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
