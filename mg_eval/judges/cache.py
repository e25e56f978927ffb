"""On-disk cache of judge completions, so that re-scoring costs nothing and is reproducible.

A completion is keyed by the judge's identity (its name, which names the model, e.g. ``openai:gpt-4-0613``,
plus the host that serves it for API judges),
the full prompt, the system message, ``max_tokens``, ``temperature`` and a ``run`` tag (independent
repetitions such as MM-Vet's ``num_run`` must not share answers). The store is one SQLite file
(WAL journal, ``synchronous=FULL``: every answer is on disk before it is returned), safe for many
threads of one process and for several processes sharing the file. Failures are never cached, so a
rerun retries exactly the samples that failed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges.base import Judge
from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.stats import JudgeStats

__all__ = ["CACHE_FILENAME", "CachedJudge", "JudgeCache", "request_key"]

CACHE_FILENAME = "judge_cache.sqlite"
_NOT_PREFETCHED = object()
_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    judge TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""


def request_key(judge_identity: str, request: JudgeRequest, run: int = 0) -> tuple[str, str]:
    """The cache key of one request: ``(sha256 hex, canonical JSON it was hashed from)``.

    ``judge_identity`` is the judge's ``cache_identity`` (e.g. ``openai:gpt-4-0613@api.openai.com``) or name.
    """
    payload = {
        "judge": judge_identity,
        "prompt": request.prompt,
        "system": request.system,
        "max_tokens": int(request.max_tokens),
        "temperature": float(request.temperature),
        "run": int(run),
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), canonical


class JudgeCache:
    """A SQLite file of ``key -> completion``; one connection guarded by a lock (thread-safe)."""

    def __init__(self, path: str | Path, *, filename: str = CACHE_FILENAME, option: str = "--judge-cache-dir",
                 what: str = "judge cache") -> None:
        """Open (creating if needed) the cache at ``path``, a ``.sqlite`` file or a directory for one.

        ``filename``: the file made in a directory; ``option`` / ``what``: the flag an error message tells the
        user to change and what it calls the cache (the ``openai`` backend keeps its responses in one too).
        """
        path = Path(path).expanduser()
        if path.suffix != ".sqlite":
            path = path / filename
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(path), timeout=60.0, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UserInputError(
                f"cannot open the {what} at {path}: {exc}. Pass a writable cache directory "
                f"({option} DIR) or disable the cache."
            ) from exc
        self.path = path
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The stored completion for ``key``, or ``None``."""
        with self._lock:
            row = self._conn.execute("SELECT response FROM completions WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, judge_name: str, canonical_request: str, response: str) -> None:
        """Store one completion durably (first writer wins for a key)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO completions (key, judge, request, response, created_at) VALUES (?,?,?,?,?)",
                (key, judge_name, canonical_request, response, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"JudgeCache({str(self.path)!r})"


class CachedJudge:
    """Wraps any judge: answers from the cache when it can, otherwise asks the judge and stores.

    ``name`` is the wrapped judge's name (the cache does not change what is recorded). Counts go
    to ``stats`` (``hits``, ``misses``; ``requests`` on a hit), shared with the wrapped judge, which
    counts the requests it receives.
    """

    def __init__(self, judge: Judge, cache: JudgeCache, *, stats: JudgeStats | None = None, run: int = 0,
                 _prefetched: dict[str, JudgeError | None] | None = None) -> None:
        self.inner = judge
        self.cache = cache
        self.stats = stats if stats is not None else getattr(judge, "stats", None) or JudgeStats()
        self.run = run
        self.name = judge.name
        # what answers are keyed by: the name, plus the serving host for API judges (a local server that
        # calls its model "gpt-4-0613" must not share answers with OpenAI's)
        self.identity = str(getattr(judge, "cache_identity", judge.name))
        # outcomes of this process's prefetch pass (None = answered and cached, else its JudgeError): the
        # first lookup of such a key is not counted again and a failure is not re-sent
        self._prefetched = _prefetched if _prefetched is not None else {}

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, system: str | None = None) -> str:
        """Return the cached completion or ask the wrapped judge (raises ``JudgeError`` like it)."""
        request = JudgeRequest(prompt, max_tokens=max_tokens, temperature=temperature, system=system)
        key, canonical = request_key(self.identity, request, self.run)
        prefetched = self._prefetched.pop(key, _NOT_PREFETCHED)  # dict.pop is atomic under the GIL
        if isinstance(prefetched, JudgeError):
            raise prefetched
        cached = self.cache.get(key)
        if cached is not None:
            if prefetched is _NOT_PREFETCHED:
                self.stats.add(requests=1, hits=1)
            return cached
        self.stats.add(misses=1)  # the wrapped judge counts the request itself
        text = self.inner.complete(prompt, max_tokens=max_tokens, temperature=temperature, system=system)
        self.cache.put(key, self.identity, canonical, text)
        return text

    def complete_many(self, requests: list[JudgeRequest], **kwargs: Any) -> list[str | Exception]:
        """Answer many requests on a thread pool (see :func:`mg_eval.judges.batch.complete_many`)."""
        kwargs.setdefault("max_workers", getattr(self.inner, "max_concurrency", 1))
        return complete_many(self, requests, **kwargs)

    def for_run(self, run: int) -> CachedJudge:
        """A view for the ``run``-th independent repetition: same judge, cache and stats, own cache keys."""
        return CachedJudge(self.inner, self.cache, stats=self.stats, run=run, _prefetched=self._prefetched)

    def lookup(self, request: JudgeRequest) -> tuple[str, str | None]:
        """``(cache key, stored completion or None)`` for ``request`` under this view's run; no counting."""
        key, _ = request_key(self.identity, request, self.run)
        return key, self.cache.get(key)

    def mark_prefetched(self, key: str, error: JudgeError | None = None) -> None:
        """Record that a prefetch pass already asked (and counted) ``key``: answered, or failed with ``error``.

        The next ``complete`` of that key returns the cached answer, or raises ``error`` without asking again.
        """
        self._prefetched[key] = error

    @property
    def max_concurrency(self) -> int:
        """The wrapped judge's concurrency limit."""
        return int(getattr(self.inner, "max_concurrency", 1))

    def describe(self) -> dict[str, Any]:
        """What to record in results: the wrapped judge's description plus the cache file."""
        describe = getattr(self.inner, "describe", None)
        info = dict(describe()) if describe else {"name": self.name}
        info["cache"] = str(self.cache.path)
        return info

    def __repr__(self) -> str:
        return f"CachedJudge({self.inner!r}, cache={str(self.cache.path)!r}, run={self.run})"
