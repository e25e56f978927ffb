"""Data-parallel runs on top of torchrun / accelerate: environment detection, sharding, gathering.

``torchrun --nproc-per-node N`` and ``accelerate launch`` both export ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT`` from their rendezvous, multi-node included). When
``WORLD_SIZE > 1`` the engine initialises ``torch.distributed`` (NCCL on GPUs, gloo on CPU) with the
``env://`` method, so any launcher that sets those variables works.

Sharding is by **batch**, not by sample: the engine first cuts the task into fixed batches (a function
of the documents and the batch size only), then rank ``r`` computes batches ``r, r+W, r+2W, ...``. Every
batch therefore holds the same samples with the same padding as in a single-process run, so the merged
result is identical to the single-process one, not just close.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the run. ``world_size == 1`` means single-process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Rank 0 writes results and shows the progress bar."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def detect() -> DistContext:
    """Read ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` as set by torchrun or accelerate (no side effects)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def init(context: DistContext | None = None, timeout_minutes: int = 120) -> DistContext:
    """Initialise ``torch.distributed`` when the launcher asked for several processes.

    Uses NCCL when CUDA is available (and binds the local GPU), gloo otherwise. Returns the context
    with ``backend`` filled; a no-op for single-process runs or when a process group already exists.
    """
    context = context or detect()
    if not context.distributed:
        return context
    if dist.is_initialized():
        return DistContext(context.rank, context.world_size, context.local_rank, dist.get_backend())
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(context.local_rank)
    dist.init_process_group(backend=backend, init_method="env://",
                            timeout=datetime.timedelta(minutes=timeout_minutes))
    return DistContext(context.rank, context.world_size, context.local_rank, backend)


def shard(items: Sequence[T], context: DistContext) -> list[T]:
    """Round-robin share of ``items`` for this rank: ``items[rank::world_size]``."""
    return list(items[context.rank::context.world_size])


def gather_to_main(obj: Any, context: DistContext) -> list[Any] | None:
    """Collect one picklable object per rank on rank 0 (list ordered by rank); ``None`` on other ranks."""
    if not context.distributed:
        return [obj]
    gathered: list[Any] | None = [None] * context.world_size if context.is_main else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered


def barrier(context: DistContext) -> None:
    """Wait for every rank (no-op when single-process)."""
    if context.distributed:
        dist.barrier()

