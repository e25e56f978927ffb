"""Distributed set-up of a training run: rank / world from the launcher, the process group, devices, barriers."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    """Rank / world of this process (from torchrun / deepspeed launcher variables)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0


def dist_info_from_env() -> DistInfo:
    """Read RANK / WORLD_SIZE / LOCAL_RANK set by the launcher (single process when absent)."""
    return DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))


def init_process_group(info: DistInfo, use_deepspeed: bool) -> None:
    """Start torch.distributed when there is more than one process, or when DeepSpeed needs it."""
    if torch.distributed.is_initialized() or (info.world_size == 1 and not use_deepspeed):
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if use_deepspeed:
        import deepspeed

        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        os.environ.setdefault("RANK", str(info.rank))
        os.environ.setdefault("WORLD_SIZE", str(info.world_size))
        os.environ.setdefault("LOCAL_RANK", str(info.local_rank))
        deepspeed.init_distributed(dist_backend=backend)
    else:
        torch.distributed.init_process_group(backend=backend)


def device_for(info: DistInfo) -> torch.device:
    """This rank's device: ``cuda:<local_rank>`` when CUDA is available (and made current), else CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()
