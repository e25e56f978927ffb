"""The one HTTP client of the harness for OpenAI-compatible chat-completions APIs (judges and the ``openai`` backend).

Standard library only (``urllib``). Requests go to ``{base_url}/chat/completions`` (OpenAI style,
``Authorization: Bearer <key>``) or to ``{base_url}/openai/deployments/{model}/chat/completions
?api-version=...`` (Azure style, ``api-key: <key>``). The key is read from an environment variable
that the user names; it is never part of a repr, a log line, an exception or a results record.

Transient failures (HTTP 429, 408, 409 and 5xx, timeouts, dropped connections, a 200 whose body is
not a chat completion) are retried with exponential backoff and jitter, honouring ``Retry-After``.
A rejected key, a missing model or endpoint (401/403/404) raises ``UserInputError`` at once: every
request would fail the same way. Other errors, and transient ones after the last retry, raise the
client's ``failure`` error class (``JudgeError`` for judges) for the one request. A semaphore caps the
requests in flight across all threads.

A message's ``content`` is a string or a list of content parts; :func:`image_part` makes the part of
an image (a base64 PNG data URL), so a vision-language endpoint gets the pixels the harness decoded.
"""

from __future__ import annotations

import base64
import email.utils
import io
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
from mg_eval.judges.stats import JudgeStats

__all__ = ["DEFAULT_API_KEY_ENV", "DEFAULT_BASE_URL", "DEFAULT_MAX_RETRIES", "DEFAULT_TIMEOUT", "JUDGE_FLAGS", "ChatClient", "ClientFlags",
           "Outcome", "endpoint_host", "image_part",
           "safe_base_url", "text_part"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: the environment variable the key is read from when the user names none (OpenAI's own convention)
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_AZURE_API_VERSION = "2024-06-01"
#: seconds per HTTP attempt, and retries after the first attempt (CLI: --judge-timeout, --judge-retries)
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 6
_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_CONFIG_STATUS = {401: "rejected the API key", 403: "refused access", 404: "does not know this model or URL"}
_REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class ClientFlags:
    """What the user-facing messages of one kind of client call it and the options that fix it."""

    role: str                  # "judge" / "backend": the first word of every message
    base_url: str              # the option naming the API root
    api_key_env: str           # the option naming the key's environment variable
    without_key: str           # what to do instead when no key is at hand


JUDGE_FLAGS = ClientFlags("judge", "--judge-base-url", "--judge-api-key-env", "use --judge none / a local judge")


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
class Outcome:
    """The outcome of one HTTP attempt: text (success) or an error, whether to retry it, and the HTTP status."""

    text: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    status: int | None = None


def text_part(text: str) -> dict[str, Any]:
    """The content part of a text (``{"type": "text", "text": ...}``)."""
    return {"type": "text", "text": text}


def image_part(image: Any) -> dict[str, Any]:
    """The content part of a PIL image: ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``.

    PNG is lossless, so the endpoint receives exactly the RGB pixels the task decoded.
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}


class ChatClient:
    """Chat-completions client with retries, backoff, a concurrency limit and key hygiene.

    Args:
        model: model name sent in the request (Azure: the deployment name).
        base_url: API root, e.g. ``https://api.openai.com/v1``, ``http://localhost:8000/v1`` (vLLM),
            or the Azure resource endpoint ``https://<resource>.openai.azure.com``.
        api_key_env: environment variable holding the key (read once, here). Unset is allowed for
            servers that need no key (unless ``require_key``); the official OpenAI/Azure hosts then
            fail at construction.
        api_style: ``"openai"`` or ``"azure"``.
        api_version: Azure ``api-version`` query parameter.
        timeout: seconds per HTTP attempt (connect and each read).
        max_retries: retries after the first attempt for transient failures.
        backoff_base / backoff_max: delay before retry ``k`` (0-based) is
            ``min(backoff_max, backoff_base * 2**k)`` scaled by a random factor in ``[0.5, 1]``,
            and at least the server's ``Retry-After`` (capped at ``retry_after_max``).
        max_concurrency: requests in flight at once, shared by all threads using this client.
        stats: counters to update (``calls``, ``retries``, ``failures``, tokens, seconds).
        seed: seed of the private jitter RNG (the global ``random`` state is never touched).
        outage_after: after this many requests in a row failed for transient reasons (all retries
            spent), further requests get one attempt each, no retries, until one succeeds: an outage
            then costs one timeout per request, not hours of backoff.
        flags: how messages name this client and its options (``JUDGE_FLAGS`` for judges).
        failure: the exception class of a request that failed (``JudgeError`` for judges).
        require_key: an unset ``api_key_env`` is an error even for a server that may need no key
            (the user named the variable, so they meant to send a key).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = DEFAULT_API_KEY_ENV,
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
        flags: ClientFlags = JUDGE_FLAGS,
        failure: type[Exception] = JudgeError,
        require_key: bool = False,
    ) -> None:
        _check_options(model, base_url, api_style, timeout, max_retries, max_concurrency, flags)
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
        self.flags = flags
        self.failure = failure
        self.name = f"{'azure' if api_style == 'azure' else 'openai'}:{model}"
        self._key = _read_key(api_key_env, self.base_url, api_style, flags, require_key)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._rng = random.Random(seed)
        self._state_lock = threading.Lock()
        self.outage_after = int(outage_after)
        self._failure_streak = 0

    # ------------------------------------------------------------------ public API

    def chat(self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 0.0,
             params: dict[str, Any] | None = None, max_retries: int | None = None) -> str:
        """The completion text of ``messages`` (each ``{"role", "content"}``; content a string or parts).

        ``params``: further request fields (e.g. ``top_p``, ``seed``), sent as they are.
        ``max_retries``: this request's retries (default the client's).

        Raises:
            the client's ``failure`` class: a non-retryable error, or transient errors past the retries.
            UserInputError: the server rejected the key, access, model or URL (401/403/404), or the host
                does not resolve.
        """
        self.stats.add(requests=1)
        body = {"model": self.model, "messages": messages, "max_tokens": int(max_tokens),
                "temperature": float(temperature), **(params or {})}
        payload = json.dumps(body).encode("utf-8")
        last_error = "no attempt made"
        retries = self.max_retries if max_retries is None else int(max_retries)
        retries = 0 if self._outage() else retries
        for attempt in range(retries + 1):
            outcome = self._attempt(payload)
            if outcome.text is not None:
                self._record_streak(success=True)
                return outcome.text
            last_error = outcome.error or "unknown error"
            if not outcome.retryable or attempt == retries:
                break
            delay = self._backoff(attempt, outcome.retry_after)
            logger.warning("%s %s: %s; retry %d/%d in %.2fs", self.flags.role, self.name, last_error, attempt + 1,
                           retries, delay)
            self.stats.add(retries=1)
            time.sleep(delay)
        self.stats.add(failures=1)
        if outcome.retryable:
            self._record_streak(success=False)
        raise self.failure(f"{self.flags.role} {self.name} at {self.endpoint_host}: {last_error} "
                           f"(after {attempt + 1} attempt(s))")

    def chat_once(self, messages: list[dict[str, Any]], *, max_tokens: int) -> Outcome:
        """One attempt at ``messages`` (greedy), no retries and no exception for an HTTP error: a probe.

        Raises ``UserInputError`` like :meth:`chat` for a rejected key, model or URL and an unknown host.
        """
        body = {"model": self.model, "messages": messages, "max_tokens": int(max_tokens), "temperature": 0.0}
        return self._attempt(json.dumps(body).encode("utf-8"))

    @property
    def endpoint_host(self) -> str:
        """``scheme://host[:port]`` of the endpoint (no path, query or credentials): safe to record."""
        return endpoint_host(self.base_url)

    @property
    def cache_identity(self) -> str:
        """``name@host``: cached answers are keyed by it (the port is left out: a local server may move)."""
        return f"{self.name}@{urllib.parse.urlsplit(self.base_url).hostname or ''}"

    @property
    def safe_base_url(self) -> str:
        """The base URL without user info, query or fragment (what may appear in messages)."""
        return safe_base_url(self.base_url)

    def describe(self) -> dict[str, Any]:
        """What to record in results about this client (never the key)."""
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
        return (f"{type(self).__name__}(model={self.model!r}, endpoint={self.endpoint_host!r}, "
                f"api_style={self.api_style!r}, api_key_env={self.api_key_env!r})")

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} holds an API key and is not picklable; build one per process")

    # ------------------------------------------------------------------ internals

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

    def _attempt(self, body: bytes) -> Outcome:
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
                        f"{self.flags.role} {self.name}: cannot resolve the host of {self.safe_base_url!r} "
                        f"({exc.reason}); check {self.flags.base_url}"
                    ) from None
                outcome = Outcome(error=self._redact(_describe_network_error(exc, self.timeout)), retryable=True)
            finally:
                self.stats.add(calls=1, backend_seconds=time.perf_counter() - started)
        return outcome

    def _parse_success(self, payload: bytes) -> Outcome:
        try:
            data = json.loads(payload.decode("utf-8"))
            choice = data["choices"][0]
            content = choice["message"].get("content")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
            snippet = self._redact(payload[:200].decode("utf-8", "replace"))
            return Outcome(error=f"HTTP 200 but the body is not a chat completion: {snippet!r}", retryable=True)
        usage = data.get("usage") or {}
        if isinstance(usage, dict):
            self.stats.add(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                           completion_tokens=int(usage.get("completion_tokens") or 0))
        if content is None:
            reason = choice.get("finish_reason")
            return Outcome(error=f"the completion has no text (finish_reason={reason!r})", retryable=False)
        return Outcome(text=str(content))

    def _classify_http_error(self, exc: urllib.error.HTTPError) -> Outcome:
        status = exc.code
        try:
            detail = self._redact(exc.read()[:300].decode("utf-8", "replace"))
        except (OSError, HTTPException):
            detail = ""
        if status in _CONFIG_STATUS:
            raise UserInputError(
                f"{self.flags.role} {self.name}: {self.endpoint_host} {_CONFIG_STATUS[status]} (HTTP {status}): "
                f"{detail!r}. Check the key in ${self.api_key_env}, the model name {self.model!r} and the base URL "
                f"{self.safe_base_url!r} (an OpenAI-compatible root ends in /v1)."
            ) from None
        retry_after = _parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        return Outcome(error=f"HTTP {status}: {detail!r}", retryable=status in _RETRYABLE_STATUS,
                        retry_after=retry_after, status=status)

    def _outage(self) -> bool:
        with self._state_lock:
            return self._failure_streak >= self.outage_after

    def _record_streak(self, *, success: bool) -> None:
        with self._state_lock:
            before = self._failure_streak
            self._failure_streak = 0 if success else before + 1
            now = self._failure_streak
        if now == self.outage_after:
            logger.warning("%s %s: %d requests in a row failed; until one succeeds, requests get one attempt "
                           "and no retries", self.flags.role, self.name, now)
        elif success and before >= self.outage_after:
            logger.warning("%s %s: answering again; retries restored", self.flags.role, self.name)

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


def endpoint_host(base_url: str) -> str:
    """``scheme://host[:port]`` of ``base_url`` (no path, query or credentials): safe to record."""
    parts = urllib.parse.urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def safe_base_url(base_url: str) -> str:
    """``base_url`` without user info, query or fragment, and without a trailing ``/`` (what may be recorded)."""
    return endpoint_host(base_url) + urllib.parse.urlsplit(base_url).path.rstrip("/")


def _check_options(model: str, base_url: str, api_style: str, timeout: float, max_retries: int,
                   max_concurrency: int, flags: ClientFlags) -> None:
    if not model:
        raise UserInputError(f"the {flags.role} model name is empty; e.g. "
                             + ("--judge openai:gpt-4-0613" if flags is JUDGE_FLAGS else "--model gpt-4o"))
    if api_style not in ("openai", "azure"):
        raise UserInputError(f"api_style={api_style!r}; use 'openai' or 'azure'")
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https"):
        raise UserInputError(f"{flags.role} base URL {base_url!r} must start with http:// or https:// "
                             f"({flags.base_url})")
    if parts.username or parts.password or parts.query or parts.fragment:
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
        raise UserInputError(
            f"{flags.role} base URL {shown!r}...: remove the user:password@ part and the ?query; the key goes in the "
            f"environment variable named by {flags.api_key_env} (Azure's api-version is its own option)"
        )
    if timeout <= 0 or max_retries < 0 or max_concurrency < 1:
        raise UserInputError(
            f"{flags.role} options out of range: timeout={timeout} (>0), max_retries={max_retries} (>=0), "
            f"max_concurrency={max_concurrency} (>=1)"
        )


def _read_key(api_key_env: str, base_url: str, api_style: str, flags: ClientFlags,
              require_key: bool) -> _Secret | None:
    value = os.environ.get(api_key_env, "").strip()
    if value:
        return _Secret(value)
    host = urllib.parse.urlsplit(base_url).hostname or ""
    if require_key or api_style == "azure" or host.endswith("openai.com") or host.endswith("azure.com"):
        raise UserInputError(
            f"the {flags.role} at {host} needs an API key, but ${api_key_env} is not set. "
            f"export {api_key_env}=... (or name another variable with {flags.api_key_env}), "
            f"or {flags.without_key}."
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
