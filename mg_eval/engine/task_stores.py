"""The prediction stores of one run: their locks and their preparation (where each store lives and its header:
:mod:`mg_eval.results.store`, re-exported here for the runner).

``evaluate`` locks every task's store before ``--fresh`` deletes anything or the model loads, so a second
run fails in seconds and never deletes a store another run is writing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from mg_eval.api import DEFAULT_BACKEND, TaskLike
from mg_eval.engine import distributed
from mg_eval.results import records, store
from mg_eval.results.store import store_header, task_dir

__all__ = ["lock_stores", "prepare_stores", "store_header", "task_dir"]


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
            records.remove_stale_temp_files(folder, protocol)
        if fresh:
            if context.is_main:
                own = [store.store_path(folder, protocol, rank, context.world_size)
                       for rank in range(context.world_size)]
                store.discard(folder, protocol, own=own)
            distributed.barrier(context)
        else:
            store.load_predictions(folder, protocol, store_header(model_name, task, protocol, dtype, backend))
