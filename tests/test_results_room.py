"""mg_eval.results: the one run collector (collect_runs, newest_per, open_run, run_files) and the old import paths."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mg_eval.errors import DataError, UserInputError
from mg_eval.results import (
    collect_runs,
    is_run_dir,
    is_samples_file,
    make_results,
    new_run_id,
    newest_per,
    open_run,
    run_dir,
    run_files,
    write_run,
)


def _write(root: Path, model: str, task: str, minute: int, limit: int | None = None, backend: str | None = None,
           protocol: str = "mgm") -> Path:
    """A run of ``model`` on ``task`` made at 00:``minute`` with one sample whose response names the minute."""
    run_id = new_run_id(protocol, limit, now=dt.datetime(2026, 1, 1, 0, minute, tzinfo=dt.timezone.utc))
    record = make_results(run_id=run_id, model={"name": model, "weights_hash": "0" * 16},
                          task={"name": task, "benchmark": task, "version": 1, "fingerprint": "f"}, protocol=protocol,
                          generation={}, scores={"accuracy": float(minute)}, primary_metric="accuracy",
                          n_samples={"total": 1}, limit=limit,
                          backend={"name": backend, "version": "1", "options": {}} if backend else None)
    return write_run(run_dir(root, model, task, run_id), record, [{"doc_id": "0", "response": str(minute)}])


def test_collect_runs_finds_every_run_typed_and_skips_the_stores(tmp_path: Path) -> None:
    first = _write(tmp_path, "m", "a", 1)
    second = _write(tmp_path, "m+openai", "b", 2, limit=3, backend="openai")
    store = tmp_path / "m" / "a" / ".store"
    store.mkdir()
    (store / "results.json").write_text("{}")  # not a run: stores are skipped
    runs = collect_runs(tmp_path)
    assert [run.path for run in runs] == sorted([first, second])
    by_task = {run.task: run for run in runs}
    assert (by_task["a"].model, by_task["a"].backend, by_task["a"].for_reporting) == ("m", "mgm", True)
    assert (by_task["b"].model, by_task["b"].backend, by_task["b"].for_reporting) == ("m+openai", "openai", False)
    assert by_task["b"].samples == [{"doc_id": "0", "response": "2"}] and by_task["b"].has_samples
    assert [run.task for run in collect_runs([tmp_path], lambda run: run.for_reporting)] == ["a"]
    assert collect_runs(tmp_path / "missing") == []


def test_collect_runs_names_an_empty_root_and_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"no runs \(results.json\) under .*empty; pass folders"):
        collect_runs(tmp_path / "empty", required="pass folders")
    broken = _write(tmp_path, "m", "a", 1) / "results.json"
    broken.write_text("{not json")
    with pytest.raises(DataError, match=str(broken)):
        collect_runs(tmp_path)


def test_newest_per_keeps_the_highest_run_id_and_the_first_of_equal_ones(tmp_path: Path) -> None:
    runs = collect_runs([_write(tmp_path / "x", "m", "a", minute) for minute in (5, 9, 7)][0].parents[2])
    newest = newest_per(runs, lambda run: (run.model, run.task))
    assert [run.record["scores"]["accuracy"] for run in newest.values()] == [9.0]
    rows = [("k", "r1", "first"), ("k", "r1", "second"), ("j", "r0", "only")]
    assert newest_per(rows, lambda row: row[0], run_id=lambda row: row[1]) == {"k": rows[0], "j": rows[2]}


def test_open_run_and_run_files(tmp_path: Path) -> None:
    folder = _write(tmp_path, "m", "a", 1)
    assert open_run(folder).record == open_run(folder / "results.json").record
    assert is_run_dir(folder) and not is_run_dir(tmp_path)
    assert run_files(folder) == (folder / "samples.jsonl", folder / "results.json")
    assert run_files(folder / "samples.jsonl") == (folder / "samples.jsonl", folder / "results.json")
    assert is_samples_file(folder) and is_samples_file(folder / "samples.jsonl")
    (folder / "results.json").unlink()
    assert run_files(folder) == (folder / "samples.jsonl", None)
    with pytest.raises(DataError, match="no results.json here"):
        open_run(folder)
    assert json.loads((folder / "samples.jsonl").read_text())["doc_id"] == "0"


def test_the_old_import_paths_are_the_same_objects() -> None:
    """External code importing mg_eval.engine.results / .store gets the moved code itself, not copies."""
    from mg_eval.engine import results as old_results
    from mg_eval.engine import store as old_store
    from mg_eval.results import provenance, records, runs, store

    for name in old_results.__all__:
        new = runs.run_dirs if name == "find_runs" else getattr(records, name, None) or getattr(provenance, name)
        assert getattr(old_results, name) is new, name
    for name in old_store.__all__:
        assert getattr(old_store, name) is getattr(store, name), name
