"""A judge that speaks the OpenAI chat-completions API (OpenAI, Azure OpenAI, vLLM, any compatible server).

Standard library only (``urllib``). Requests go to ``{base_url}/chat/completions`` (OpenAI style,
``Authorization: Bearer <key>``) or to ``{base_url}/openai/deployments/{model}/chat/completions
?api-version=...`` (Azure style, ``api-key: <key>``). The key is read from an environment variable
that you name (default ``OPENAI_API_KEY``); it is never part of a repr, a log line, an exception or
a results record.

Transient failures (HTTP 429, 408, 409 and 5xx, timeouts, dropped connections, a 200 whose body is
not a chat completion) are retried with exponential backoff and jitter, honouring ``Retry-After``.
A rejected key, a missing model or endpoint (401/403/404) raises ``UserInputError`` at once: every
sample would fail the same way. Other errors, and transient ones after the last retry, raise
``JudgeError`` for the one request. A semaphore caps the requests in flight across all threads.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.stats import JudgeStats

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "OpenAICompatJudge"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-06-01"
#: seconds per HTTP attempt, and retries after the first attempt (CLI: --judge-timeout, --judge-retries)
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 6
_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_CONFIG_STATUS = {401: "rejected the API key", 403: "refused access", 404: "does not know this model or URL"}
_REDACTED = "[REDACTED]"


class _Secret:
    """Holds an API key; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one HTTP attempt: text (success) or an error and whether to retry it."""

    text: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


class OpenAICompatJudge:
    """Chat-completions judge with retries, backoff, a concurrency limit and key hygiene.

    Args:
        model: model name sent in the request (Azure: the deployment name).
        base_url: API root, e.g. ``https://api.openai.com/v1``, ``http://localhost:8000/v1`` (vLLM),
            or the Azure resource endpoint ``https://<resource>.openai.azure.com``.
        api_key_env: environment variable holding the key (read once, here). Unset is allowed for
            servers that need no key; the official OpenAI/Azure hosts then fail at construction.
        api_style: ``"openai"`` or ``"azure"``.
        api_version: Azure ``api-version`` query parameter.
        timeout: seconds per HTTP attempt (connect and each read).
        max_retries: retries after the first attempt for transient failures.
        backoff_base / backoff_max: delay before retry ``k`` (0-based) is
            ``min(backoff_max, backoff_base * 2**k)`` scaled by a random factor in ``[0.5, 1]``,
            and at least the server's ``Retry-After`` (capped at ``retry_after_max``).
        max_concurrency: requests in flight at once, shared by all threads using this judge.
        stats: counters to update (``build_judge`` shares one with the cache).
        seed: seed of the private jitter RNG (the global ``random`` state is never touched).
        outage_after: after this many requests in a row failed for transient reasons (all retries
            spent), further requests get one attempt each, no retries, until one succeeds: an outage
            then costs one timeout per sample, not hours of backoff, and every sample is still counted.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = "OPENAI_API_KEY",
        api_style: str = "openai",
        api_version: str = DEFAULT_AZURE_API_VERSION,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_max: float = 120.0,
        max_concurrency: int = 8,
        stats: JudgeStats | None = None,
        seed: int | None = None,
        outage_after: int = 5,
    ) -> None:
        _check_options(model, base_url, api_style, timeout, max_retries, max_concurrency)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_style = api_style
        self.api_version = api_version
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.max_concurrency = int(max_concurrency)
        self.stats = stats if stats is not None else JudgeStats()
        self.name = f"{'azure' if api_style == 'azure' else 'openai'}:{model}"
        self._key = _read_key(api_key_env, self.base_url, api_style)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._rng = random.Random(seed)
        self._state_lock = threading.Lock()
        self.outage_after = int(outage_after)
        self._failure_streak = 0

    # ------------------------------------------------------------------ public API

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, system: str | None = None) -> str:
        """Return the completion text of ``prompt`` (one user message, optional system message).

        Raises:
            JudgeError: the request failed (non-retryable error, or transient errors past ``max_retries``).
            UserInputError: the server rejected the key, access, model or URL (401/403/404).
        """
        self.stats.add(requests=1)
        body = self._payload(prompt, max_tokens=max_tokens, temperature=temperature, system=system)
        last_error = "no attempt made"
        max_retries = 0 if self._outage() else self.max_retries
        for attempt in range(max_retries + 1):
            outcome = self._attempt(body)
            if outcome.text is not None:
                self._record_streak(success=True)
                return outcome.text
            last_error = outcome.error or "unknown error"
            if not outcome.retryable or attempt == max_retries:
                break
            delay = self._backoff(attempt, outcome.retry_after)
            logger.warning("judge %s: %s; retry %d/%d in %.2fs", self.name, last_error, attempt + 1,
                           self.max_retries, delay)
            self.stats.add(retries=1)
            time.sleep(delay)
        self.stats.add(failures=1)
        if outcome.retryable:
            self._record_streak(success=False)
        tries = attempt + 1
        raise JudgeError(f"judge {self.name} at {self.endpoint_host}: {last_error} (after {tries} attempt(s))")

    def complete_many(self, requests: list[JudgeRequest], **kwargs: Any) -> list[str | Exception]:
        """Answer many requests on a thread pool sized to ``max_concurrency`` (see ``batch.complete_many``)."""
        kwargs.setdefault("max_workers", self.max_concurrency)
        return complete_many(self, requests, **kwargs)

    @property
    def endpoint_host(self) -> str:
        """``scheme://host[:port]`` of the endpoint (no path, query or credentials): safe to record."""
        parts = urllib.parse.urlsplit(self.base_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"

    @property
    def cache_identity(self) -> str:
        """``name@host``: cached answers are keyed by it (the port is left out: a local server may move)."""
        return f"{self.name}@{urllib.parse.urlsplit(self.base_url).hostname or ''}"

    @property
    def safe_base_url(self) -> str:
        """The base URL without user info, query or fragment (what may appear in messages)."""
        parts = urllib.parse.urlsplit(self.base_url)
        return f"{self.endpoint_host}{parts.path}"

    def describe(self) -> dict[str, Any]:
        """What to record in results about this judge (never the key)."""
        return {
            "name": self.name,
            "kind": self.api_style,
            "model": self.model,
            "endpoint": self.endpoint_host,
            "api_key_env": self.api_key_env,
            "timeout_s": self.timeout,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
        }

    def __repr__(self) -> str:
        return (f"OpenAICompatJudge(model={self.model!r}, endpoint={self.endpoint_host!r}, "
                f"api_style={self.api_style!r}, api_key_env={self.api_key_env!r})")

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("OpenAICompatJudge holds an API key and is not picklable; build one per process")

    # ------------------------------------------------------------------ internals

    def _payload(self, prompt: str, *, max_tokens: int, temperature: float, system: str | None) -> bytes:
        messages = [] if system is None else [{"role": "system", "content": system}]
        messages.append({"role": "user", "content": prompt})
        body = {"model": self.model, "messages": messages, "max_tokens": int(max_tokens),
                "temperature": float(temperature)}
        return json.dumps(body).encode("utf-8")

    def _url(self) -> str:
        if self.api_style == "azure":
            deployment = urllib.parse.quote(self.model, safe="")
            query = urllib.parse.urlencode({"api-version": self.api_version})
            return f"{self.base_url}/openai/deployments/{deployment}/chat/completions?{query}"
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key is not None:
            if self.api_style == "azure":
                headers["api-key"] = self._key.reveal()
            else:
                headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    def _attempt(self, body: bytes) -> _Attempt:
        """One HTTP request under the concurrency limit, classified into success / retryable / final."""
        request = urllib.request.Request(self._url(), data=body, headers=self._headers(), method="POST")
        started = time.perf_counter()
        with self._slots:
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                outcome = self._parse_success(payload)
            except urllib.error.HTTPError as exc:
                outcome = self._classify_http_error(exc)
            except (TimeoutError, urllib.error.URLError, HTTPException, ConnectionError, OSError) as exc:
                if isinstance(getattr(exc, "reason", None), socket.gaierror):
                    raise UserInputError(
                        f"judge {self.name}: cannot resolve the host of {self.safe_base_url!r} "
                        f"({exc.reason}); check --judge-base-url"
                    ) from None
                outcome = _Attempt(error=self._redact(_describe_network_error(exc, self.timeout)), retryable=True)
            finally:
                self.stats.add(calls=1, backend_seconds=time.perf_counter() - started)
        return outcome

    def _parse_success(self, payload: bytes) -> _Attempt:
        try:
            data = json.loads(payload.decode("utf-8"))
            choice = data["choices"][0]
            content = choice["message"].get("content")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            snippet = self._redact(payload[:200].decode("utf-8", "replace"))
            return _Attempt(error=f"HTTP 200 but the body is not a chat completion: {snippet!r}", retryable=True)
        usage = data.get("usage") or {}
        if isinstance(usage, dict):
            self.stats.add(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                           completion_tokens=int(usage.get("completion_tokens") or 0))
        if content is None:
            reason = choice.get("finish_reason")
            return _Attempt(error=f"the completion has no text (finish_reason={reason!r})", retryable=False)
        return _Attempt(text=str(content))

    def _classify_http_error(self, exc: urllib.error.HTTPError) -> _Attempt:
        status = exc.code
        try:
            detail = self._redact(exc.read()[:300].decode("utf-8", "replace"))
        except (OSError, HTTPException):
            detail = ""
        if status in _CONFIG_STATUS:
            raise UserInputError(
                f"judge {self.name}: {self.endpoint_host} {_CONFIG_STATUS[status]} (HTTP {status}): {detail!r}. "
                f"Check the key in ${self.api_key_env}, the model name {self.model!r} and the base URL "
                f"{self.safe_base_url!r} (an OpenAI-compatible root ends in /v1)."
            ) from None
        retry_after = _parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        return _Attempt(error=f"HTTP {status}: {detail!r}", retryable=status in _RETRYABLE_STATUS,
                        retry_after=retry_after)

    def _outage(self) -> bool:
        with self._state_lock:
            return self._failure_streak >= self.outage_after

    def _record_streak(self, *, success: bool) -> None:
        with self._state_lock:
            before = self._failure_streak
            self._failure_streak = 0 if success else before + 1
            now = self._failure_streak
        if now == self.outage_after:
            logger.warning("judge %s: %d requests in a row failed; until one succeeds, requests get one attempt "
                           "and no retries", self.name, now)
        elif success and before >= self.outage_after:
            logger.warning("judge %s: answering again; retries restored", self.name)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        with self._state_lock:
            factor = 0.5 + 0.5 * self._rng.random()
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt)) * factor
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_max))
        return delay

    def _redact(self, text: str) -> str:
        if self._key is not None and self._key.reveal():
            text = text.replace(self._key.reveal(), _REDACTED)
        return text


def _check_options(model: str, base_url: str, api_style: str, timeout: float, max_retries: int,
                   max_concurrency: int) -> None:
    if not model:
        raise UserInputError("the judge model name is empty; e.g. --judge openai:gpt-4-0613")
    if api_style not in ("openai", "azure"):
        raise UserInputError(f"api_style={api_style!r}; use 'openai' or 'azure'")
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise UserInputError(f"judge base URL {base_url!r} must start with http:// or https://")
    if parts.username or parts.password or parts.query or parts.fragment:
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
        raise UserInputError(
            f"judge base URL {shown!r}...: remove the user:password@ part and the ?query; the key goes in the "
            "environment variable named by --judge-api-key-env (Azure's api-version is its own option)"
        )
    if timeout <= 0 or max_retries < 0 or max_concurrency < 1:
        raise UserInputError(
            f"judge options out of range: timeout={timeout} (>0), max_retries={max_retries} (>=0), "
            f"max_concurrency={max_concurrency} (>=1)"
        )


def _read_key(api_key_env: str, base_url: str, api_style: str) -> _Secret | None:
    value = os.environ.get(api_key_env, "").strip()
    if value:
        return _Secret(value)
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if api_style == "azure" or host.endswith("openai.com") or host.endswith("azure.com"):
        raise UserInputError(
            f"the judge at {host} needs an API key, but ${api_key_env} is not set. "
            f"export {api_key_env}=... (or name another variable with --judge-api-key-env), "
            "or use --judge none / a local judge."
        )
    return None


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent/odd."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe_network_error(exc: BaseException, timeout: float) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g}s"
    return f"connection error: {type(reason).__name__}: {reason}"
