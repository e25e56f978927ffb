"""The one run collector: every reader of finished runs (``mg-eval results``, ``plot``, ``report``, the ablation
tables, the training curves, group scores) finds them here and gets typed :class:`Run` records.

    runs = collect_runs(root)                         # every run under root, sorted by path
    newest = newest_per(runs, lambda run: run.task)   # {key: the newest run (highest run id)}
    run = open_run(path)                              # one run folder given by the user

A run folder is one holding ``results.json`` (``<root>/<model>/<task>/<run_id>/``, see :mod:`.records`); folders
whose name starts with a dot (the prediction stores) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mg_eval.errors import UserInputError
from mg_eval.results.provenance import how_made
from mg_eval.results.records import RESULTS_FILE, SAMPLES_FILE, read_results, read_samples

__all__ = ["Run", "RunFacts", "collect_runs", "is_run_dir", "is_samples_file", "newest_per", "open_run", "run_dirs", "run_files"]

Item = TypeVar("Item")
Key = TypeVar("Key", bound=Hashable)


class RunFacts:
    """What a run's ``results.json`` says about it, read from ``self.record`` (``self.path``: its folder); shared by
    :class:`Run` and the views built on runs (the report's ``RunView``)."""

    path: Path
    record: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.record.get("run_id") or self.path.name)

    @property
    def model(self) -> str:
        return str(self.record["model"]["name"])

    @property
    def task(self) -> str:
        return str(self.record["task"]["name"])

    @property
    def benchmark(self) -> str:
        """The task's benchmark (the task's name where the record names none)."""
        return str(self.record["task"].get("benchmark") or self.task)

    @property
    def protocol(self) -> str:
        return str(self.record.get("protocol"))

    @property
    def backend(self) -> str:
        """The backend that made the predictions (runs written before backends existed: the default one)."""
        return str(how_made(self.record)["backend"])

    @property
    def for_reporting(self) -> bool:
        return bool(self.record.get("for_reporting", True))


@dataclass(eq=False)
class Run(RunFacts):
    """One finished run: its folder and its validated ``results.json``; ``samples`` read on first use."""

    path: Path
    record: dict[str, Any]
    _samples: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def has_samples(self) -> bool:
        """A ``samples.jsonl`` lies beside ``results.json`` (a results file alone still has its scores)."""
        return (self.path / SAMPLES_FILE).is_file()

    @property
    def samples(self) -> list[dict[str, Any]]:
        """The ``samples.jsonl`` rows (``DataError`` naming the file when absent or broken); read once."""
        if self._samples is None:
            self._samples = read_samples(self.path)
        return self._samples


def run_dirs(root: str | os.PathLike) -> list[Path]:
    """Every run folder (one holding ``results.json``) under ``root``, sorted by path; ``[]`` when ``root`` is
    missing."""
    base = Path(root)
    if not base.exists():
        return []
    return sorted(path.parent for path in base.rglob(RESULTS_FILE) if not path.parent.name.startswith("."))


def is_run_dir(path: str | os.PathLike) -> bool:
    """``path`` is a run folder: it holds ``results.json``."""
    return (Path(path) / RESULTS_FILE).is_file()


def run_files(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """``(samples.jsonl, results.json or None)`` of a run folder or of a samples file (the ``results.json`` beside
    it, where there is one). The samples file may not exist."""
    given = Path(path)
    samples = given / SAMPLES_FILE if given.is_dir() else given
    results = samples.parent / RESULTS_FILE
    return samples, (results if results.is_file() else None)


def is_samples_file(path: str | os.PathLike) -> bool:
    """``path`` is a ``samples.jsonl`` file, or a folder holding one."""
    samples, _ = run_files(path)
    return samples.is_file() and samples.name == SAMPLES_FILE


def open_run(path: str | os.PathLike) -> Run:
    """The run in folder ``path`` (or its ``results.json``); ``DataError`` naming the file when unreadable."""
    folder = Path(path)
    folder = folder.parent if folder.name == RESULTS_FILE else folder
    return Run(folder, read_results(folder))


def collect_runs(roots: str | os.PathLike | Sequence[str | os.PathLike],
                 where: Callable[[Run], bool] | None = None, *, required: str | None = None) -> list[Run]:
    """Every run under ``roots`` (a folder or several), in root order then path order, kept when ``where`` says so.

    ``required``: raise ``UserInputError`` when a root holds no run at all, ending the message with this fix
    (e.g. ``"pass folders written by `mg-eval run`"``). Unreadable runs raise ``DataError`` naming the file.
    """
    folders = [roots] if isinstance(roots, str | os.PathLike) else list(roots)
    found = []
    for root in folders:
        paths = run_dirs(root)
        if not paths and required is not None:
            raise UserInputError(f"no runs (results.json) under {root}; {required}")
        runs = (open_run(path) for path in paths)
        found.extend(run for run in runs if where is None or where(run))
    return found


def newest_per(items: Iterable[Item], key: Callable[[Item], Key],
               run_id: Callable[[Item], str] = lambda item: item.run_id) -> dict[Key, Item]:
    """``{key(item): the item with the highest run id}`` (run ids sort by time); of equal run ids the first
    seen stays. ``run_id`` reads an item's run id (default its ``run_id`` attribute: a :class:`Run`, a report
    view)."""
    newest: dict[Key, Item] = {}
    for item in items:
        name = key(item)
        if name not in newest or run_id(item) > run_id(newest[name]):
            newest[name] = item
    return newest

