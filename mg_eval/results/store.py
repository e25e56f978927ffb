"""The prediction store: every prediction hits the disk (fsync'd JSONL) the moment it exists.

One store per (checkpoint, task, protocol)::

    <root>/<model>/<task>/.store/<protocol>.jsonl          # single-process runs
    <root>/<model>/<task>/.store/<protocol>.rank<R>.jsonl  # rank R of a multi-process run

The first line of each file is a header (store format, model, task, protocol, dtype). Every other line
is one prediction: ``doc_id``, ``fingerprint``, ``prompt``, ``response``. A reader loads every file of
the (task, protocol) pair, so a run resumes whatever world size wrote the store.

Crash safety: records are appended with one ``write`` + ``flush`` + ``os.fsync`` per batch. After a
``kill -9`` the last line may be torn; readers skip a line that does not parse, and a writer cuts the
torn tail off before appending, so the file stays valid JSONL. A lock file (``lockf``, released by the kernel when
the holder dies) stops two processes from writing the same store file at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mg_eval.api import DEFAULT_BACKEND, TaskLike
from mg_eval.errors import UserInputError
from mg_eval.results.records import sanitize_name

STORE_FORMAT = 1
STORE_DIR = ".store"
#: Header fields that must match between the store and a resuming run (dtype is not in the fingerprint; the
#: backend is, for non-default backends, and is checked here too so a resume never switches backend silently).
HEADER_CHECKED = ("task", "protocol", "dtype", "backend")
#: Values of header fields a store written before the field existed has (stores of the reference backend).
HEADER_DEFAULTS = {"backend": DEFAULT_BACKEND}


def prediction_fingerprint(**parts: Any) -> str:
    """``sha256`` (first 16 hex digits) of the canonical JSON of ``parts``.

    The engine passes weights hash, task fingerprint and version, protocol, the user text, the chat
    template, the generation kwargs and the sample seed: a change of any of them gives a new value.
    """
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def task_dir(output: str | os.PathLike, model_name: str, task: TaskLike) -> Path:
    """``<output>/<model>/<task>``: the store and run directories of one (model, task)."""
    return Path(output) / sanitize_name(model_name) / sanitize_name(task.name)


def store_header(model_name: str, task: TaskLike, protocol: str, dtype: str | None,
                 backend: str = DEFAULT_BACKEND) -> dict[str, Any]:
    """The header every store file of this (model, task, protocol) carries; a mismatch on resume is an error
    (``backend``: a store written before backends existed has none and counts as the default backend's)."""
    return {"model": model_name, "task": task.name, "protocol": protocol, "dtype": dtype, "backend": backend}


def store_dir(task_dir: str | os.PathLike) -> Path:
    """The folder of the stores of one (model, task): ``<task_dir>/.store``."""
    return Path(task_dir) / STORE_DIR


def store_path(task_dir: str | os.PathLike, protocol: str, rank: int = 0, world_size: int = 1) -> Path:
    """The file this process appends to (one file per rank under multi-process runs)."""
    name = f"{protocol}.jsonl" if world_size == 1 else f"{protocol}.rank{rank}.jsonl"
    return store_dir(task_dir) / name


def _read_lines(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(header, records) of one store file; torn or unparsable lines are skipped."""
    header: dict[str, Any] | None = None
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # torn tail of a killed writer
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(item, dict):
                continue
            if item.get("kind") == "header":
                header = header or item
            elif "doc_id" in item and "fingerprint" in item:
                records.append(item)
    return header, records


def load_predictions(task_dir: str | os.PathLike, protocol: str,
                     expected_header: Mapping[str, Any] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Every stored prediction of (task, protocol), keyed by ``(doc_id, fingerprint)``.

    Raises ``UserInputError`` when a store file's header disagrees with ``expected_header`` on a
    field in ``HEADER_CHECKED`` (a resume under a different configuration).
    """
    found: dict[tuple[str, str], dict[str, Any]] = {}
    folder = store_dir(task_dir)
    if not folder.is_dir():
        return found
    for path in store_files(task_dir, protocol):
        header, records = _read_lines(path)
        if expected_header is not None and header is not None:
            check_header(path, header, expected_header)
        for record in records:
            found.setdefault((str(record["doc_id"]), str(record["fingerprint"])), record)
    return found


def check_header(path: Path, header: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Fail fast when a store was written under settings that the fingerprint does not cover.

    An expected value of ``None`` is not checked (a backend that resolves ``--dtype auto`` only when it loads
    the model); the run checks the header again with the loaded model's values before it generates."""
    if header.get("format") != STORE_FORMAT:
        raise UserInputError(f"{path}: prediction store format {header.get('format')} is not {STORE_FORMAT}; "
                             "rerun with --fresh to start a new store")
    for key in HEADER_CHECKED:
        stored = header.get(key, HEADER_DEFAULTS.get(key))
        if expected.get(key) is not None and stored != expected[key]:  # None: not known yet (checked again later)
            raise UserInputError(
                f"{path}: resume config mismatch: the stored predictions were made with {key}="
                f"{stored!r}, this run uses {key}={expected[key]!r}. Rerun with "
                f"--{key.replace('_', '-')} {stored} to resume, or pass --fresh to discard the "
                "stored predictions of this task")


def store_files(task_dir: str | os.PathLike, protocol: str) -> list[Path]:
    """Every store file of (task, protocol): the single-process file and the per-rank files."""
    folder = store_dir(task_dir)
    return sorted(folder.glob(f"{protocol}.jsonl")) + sorted(folder.glob(f"{protocol}.rank*.jsonl"))


def discard(task_dir: str | os.PathLike, protocol: str, own: Iterable[str | os.PathLike] = ()) -> int:
    """Delete the store files of (task, protocol) (``--fresh``); returns how many were removed.

    ``own``: store files this run holds the locks of (its ranks' files). Every other file is locked
    first: if another process is writing any of them, nothing is deleted and ``UserInputError`` names it.
    """
    held = {Path(path).resolve() for path in own}
    locks = []
    try:
        for path in store_files(task_dir, protocol):
            if path.resolve() not in held:
                locks.append(StoreLock(path).acquire())
        removed = 0
        for path in store_files(task_dir, protocol):
            path.unlink()
            removed += 1
        return removed
    finally:
        for lock in locks:
            lock.release()


class StoreLock:
    """Exclusive ``lockf`` lock on ``<store file>.lock``: one writer per store file.

    Owned by this process and released by the kernel when it dies (not inherited by the DataLoader
    workers it forks). The engine takes it before ``--fresh`` deletes anything and before the model
    loads, and keeps it until the task's predictions are written.
    """

    _held_in_this_process: set[Path] = set()  # lockf does not stop a second locker in the same process

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> StoreLock:
        """Take the lock now or raise ``UserInputError`` naming the store file (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        busy = key in self._held_in_this_process
        handle = open(self.path.with_suffix(".lock"), "w")
        if not busy:
            try:
                fcntl.lockf(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                busy = True
        if busy:
            handle.close()
            raise UserInputError(f"{self.path}: another mg-eval process is writing this prediction store; "
                                 "wait for it to finish (or stop it) before starting this run") from None
        self._held_in_this_process.add(key)
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is None:
            return
        self._held_in_this_process.discard(self.path.resolve())
        fcntl.lockf(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class PredictionWriter:
    """Append-only, fsync'd writer of one store file. Use as a context manager.

    Holds the file's ``StoreLock`` while open (its own, or ``lock``, one the caller already holds): a
    second writer of the same file fails at once with a message instead of interleaving lines.
    """

    def __init__(self, path: str | os.PathLike, header: Mapping[str, Any], lock: StoreLock | None = None):
        self.path = Path(path)
        self.header = {"kind": "header", "format": STORE_FORMAT, **header}
        self._given_lock = lock
        self._own_lock: StoreLock | None = None
        self._handle = None

    def __enter__(self) -> PredictionWriter:
        if self._given_lock is None or not self._given_lock.held:
            self._own_lock = StoreLock(self.path).acquire()
        self._repair_torn_tail()
        self._handle = open(self.path, "a", encoding="utf-8")
        if self.path.stat().st_size == 0:
            self._write_lines([self.header])
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()
        if self._own_lock is not None:
            self._own_lock.release()

    def _repair_torn_tail(self) -> None:
        """Cut a partial last line (left by ``kill -9``) so appended records start on a fresh line."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            keep = size
            chunk = 4096
            while keep > 0:  # scan backwards for the last newline
                start = max(0, keep - chunk)
                handle.seek(start)
                block = handle.read(keep - start)
                position = block.rfind(b"\n")
                if position >= 0:
                    keep = start + position + 1
                    break
                keep = start
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())

    def _write_lines(self, items: Iterable[Mapping[str, Any]]) -> None:
        text = "".join(json.dumps(item, ensure_ascii=False, default=str) + "\n" for item in items)
        self._handle.write(text)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Durably append prediction records (each needs ``doc_id`` and ``fingerprint``)."""
        if self._handle is None:
            raise RuntimeError("PredictionWriter.append called outside its `with` block")
        self._write_lines(records)
