"""A judge that speaks the OpenAI chat-completions API (OpenAI, Azure OpenAI, vLLM, any compatible server).

The HTTP work (retries with backoff and ``Retry-After``, the concurrency limit, the key read from the
environment variable you name, redaction) is :class:`mg_eval.judges.chat_client.ChatClient`, the one client
the harness has (the ``openai`` generation backend uses it too). This module adds the judge interface:
one prompt (and an optional system message) in, one completion out, ``JudgeError`` on failure.
"""

from __future__ import annotations

from typing import Any

from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.chat_client import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ChatClient,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "OpenAICompatJudge"]


class OpenAICompatJudge(ChatClient):
    """Chat-completions judge: :class:`ChatClient` (every constructor argument) plus the ``Judge`` interface.

    ``name`` is ``openai:<model>`` or ``azure:<deployment>``; failures raise ``JudgeError``; a rejected key,
    model or URL raises ``UserInputError`` at once.
    """

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, system: str | None = None) -> str:
        """Return the completion text of ``prompt`` (one user message, optional system message).

        Raises:
            JudgeError: the request failed (non-retryable error, or transient errors past ``max_retries``).
            UserInputError: the server rejected the key, access, model or URL (401/403/404).
        """
        messages = [] if system is None else [{"role": "system", "content": system}]
        messages.append({"role": "user", "content": prompt})
        return self.chat(messages, max_tokens=max_tokens, temperature=temperature)

    def complete_many(self, requests: list[JudgeRequest], **kwargs: Any) -> list[str | Exception]:
        """Answer many requests on a thread pool sized to ``max_concurrency`` (see ``batch.complete_many``)."""
        kwargs.setdefault("max_workers", self.max_concurrency)
        return complete_many(self, requests, **kwargs)
