"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for offline tests and benchmarks.

Use it to test a judge set-up (or this package) without a network or a key::

    with FakeChatServer(responder=lambda body: {"content": "0.5"}) as server:
        judge = build_judge("openai:gpt-4-0613", base_url=server.base_url, use_cache=False)

Each request takes the next scripted action (or, when the script is empty, asks ``responder``):

* ``{"content": "0.7"}``                      200 with a chat completion
* ``{"status": 429, "retry_after": "0.3"}``  an error status (optionally with Retry-After)
* ``{"status": 401, "echo_key": True}``       an error whose body echoes the request's credentials
* ``{"sleep": 1.0, "content": "late"}``       answer only after ``sleep`` seconds (client timeout)
* ``{"raw": b"not json"}``                   200 with an arbitrary body
* ``{"content": None}``                       200 whose message has no content
* ``{"drop": True}``                          close the connection without an answer

``refuse_images=True`` makes it a text-only endpoint: a request with an ``image_url`` part gets HTTP 400
with the message a vLLM server serving a text-only model gives, before any script or responder.

Bounded: it listens on 127.0.0.1 only, refuses more than ``max_requests`` (HTTP 503 + a counter the
tests assert on), drops a client that sends nothing for ``socket_timeout`` seconds, and refuses every
request after ``lifetime_s`` seconds. It records every request (path, headers, JSON body, arrival time)
and the peak number of requests in flight, and shuts down when the context exits.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Action = dict[str, Any]


@dataclass
class Recorded:
    """One request the server received (header names lower-cased)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    arrived: float
    answered: float | None = None  # when the reply was written (monotonic), None while in flight


@dataclass
class FakeChatServer:
    """The server; a context manager that starts it on an ephemeral port in a thread and shuts it down."""

    script: list[Action] = field(default_factory=list)
    responder: Callable[[dict[str, Any]], Action] | None = None
    max_requests: int = 200
    refuse_images: bool = False
    lifetime_s: float = 120.0
    socket_timeout: float = 10.0
    requests: list[Recorded] = field(default_factory=list)
    refused: int = 0
    peak_in_flight: int = 0

    def __post_init__(self) -> None:
        self._queue: deque[Action] = deque(self.script)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    @property
    def base_url(self) -> str:
        """The OpenAI-style API root, ``http://127.0.0.1:<port>/v1``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the Azure-style endpoint)."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def push(self, *actions: Action) -> None:
        """Append scripted actions."""
        with self._lock:
            self._queue.extend(actions)

    def __enter__(self) -> FakeChatServer:
        self._started = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        assert self._server.server_address[0] == "127.0.0.1"  # loopback only
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # called from handler threads
    def _next_action(self, recorded: Recorded) -> Action | None:
        with self._lock:
            expired = time.monotonic() - self._started > self.lifetime_s
            if len(self.requests) >= self.max_requests or expired:
                self.refused += 1
                return None
            self.requests.append(recorded)
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            if self.refuse_images and images_of(recorded.body):
                return {"status": 400, "error": "fake is not a multimodal model (text-only endpoint)"}
            if self._queue:
                return self._queue.popleft()
        if self.responder is not None:
            return self.responder(recorded.body)
        return {"status": 500, "error": "script exhausted"}

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def without_proxies(monkeypatch: Any) -> None:
    """Unset the proxy variables for one test, so requests to 127.0.0.1 go straight to the server."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def images_of(body: dict[str, Any]) -> list[str]:
    """The ``image_url`` URLs of a chat request's messages, in order."""
    urls = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                urls.append(str((part.get("image_url") or {}).get("url")))
    return urls


def text_of(body: dict[str, Any]) -> str:
    """The text of a chat request's last user message (string content, or its text parts joined)."""
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return str(content)


def completion_body(content: str | None, model: str = "fake") -> bytes:
    """A chat-completion JSON body with one choice whose message text is ``content``."""
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }).encode()


def _make_handler(server: FakeChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = server.socket_timeout  # a silent client is dropped, never holds a thread forever

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default log
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            recorded = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            action = server._next_action(recorded)
            if action is None:
                self._send(503, b'{"error": "fake server: request budget exhausted"}')
                return
            try:
                self._act(action)
                recorded.answered = time.monotonic()
            finally:
                server._done()

        def _act(self, action: Action) -> None:
            if action.get("sleep"):
                time.sleep(action["sleep"])
            if action.get("drop"):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status = int(action.get("status", 200))
            headers = {}
            if "retry_after" in action:
                headers["Retry-After"] = str(action["retry_after"])
            if "raw" in action:
                payload = action["raw"]
            elif status == 200:
                payload = completion_body(action.get("content"))
            elif action.get("echo_key"):
                secret = self.headers.get("Authorization") or self.headers.get("api-key") or ""
                payload = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}"}}).encode()
            else:
                payload = json.dumps({"error": {"message": action.get("error", f"status {status}")}}).encode()
            self._send(status, payload, headers)

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

    return Handler
