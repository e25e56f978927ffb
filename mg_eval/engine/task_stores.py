"""The prediction stores of one run: where each (model, task) store lives, its lock, and its preparation.

``evaluate`` locks every task's store before ``--fresh`` deletes anything or the model loads, so a second
run fails in seconds and never deletes a store another run is writing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mg_eval.api import DEFAULT_BACKEND, TaskLike
from mg_eval.engine import distributed, results, store


def store_header(model_name: str, task: TaskLike, protocol: str, dtype: str | None,
                 backend: str = DEFAULT_BACKEND) -> dict[str, Any]:
    """The header every store file of this (model, task, protocol) carries; a mismatch on resume is an error
    (``backend``: a store written before backends existed has none and counts as the default backend's)."""
    return {"model": model_name, "task": task.name, "protocol": protocol, "dtype": dtype, "backend": backend}


def task_dir(output: str | os.PathLike, model_name: str, task: TaskLike) -> Path:
    """``<output>/<model>/<task>``: the store and run directories of one (model, task)."""
    return Path(output) / results.sanitize_name(model_name) / results.sanitize_name(task.name)


def lock_stores(held: contextlib.ExitStack, model_name: str, tasks: Sequence[TaskLike], protocol: str, output: Path,
                 context: distributed.DistContext) -> dict[str, store.StoreLock]:
    """Lock this rank's store file of every task now (a second run fails here, in seconds, not after a
    model load, and ``--fresh`` can never delete a store another run is writing)."""
    return {task.name: held.enter_context(store.StoreLock(
                store.store_path(task_dir(output, model_name, task), protocol, context.rank, context.world_size)))
            for task in tasks}


def prepare_stores(model_name: str, tasks: Sequence[TaskLike], protocol: str, dtype: str | None, output: Path,
                    fresh: bool, context: distributed.DistContext, backend: str = DEFAULT_BACKEND) -> None:
    """Under the store locks: remove temp files a killed results write left; ``--fresh``: delete old stores
    (after locking any other rank file, so a foreign writer stops it); otherwise check their headers now,
    before the model is loaded."""
    for task in tasks:
        folder = task_dir(output, model_name, task)
        if context.is_main:
            results.remove_stale_temp_files(folder, protocol)
        if fresh:
            if context.is_main:
                own = [store.store_path(folder, protocol, rank, context.world_size)
                       for rank in range(context.world_size)]
                store.discard(folder, protocol, own=own)
            distributed.barrier(context)
        else:
            store.load_predictions(folder, protocol, store_header(model_name, task, protocol, dtype, backend))
