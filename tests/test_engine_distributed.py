"""Launcher detection and sharding (the multi-process merge itself is tested with torchrun in
``test_engine_subprocess.py``)."""

from __future__ import annotations

import pytest

from mg_eval.engine import distributed


def test_detect_reads_what_torchrun_and_accelerate_export(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.detect() == distributed.DistContext(0, 1, 0)
    assert not distributed.detect().distributed and distributed.detect().is_main
    monkeypatch.setenv("RANK", "5")
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "1")  # second node, second GPU
    context = distributed.detect()
    assert (context.rank, context.world_size, context.local_rank) == (5, 8, 1)
    assert context.distributed and not context.is_main


def test_batches_are_shared_round_robin_and_cover_everything_once() -> None:
    batches = [[i] for i in range(11)]
    shares = [distributed.shard(batches, distributed.DistContext(rank, 3, rank)) for rank in range(3)]
    assert shares[0] == [[0], [3], [6], [9]] and shares[2] == [[2], [5], [8]]
    assert sorted(item for share in shares for batch in share for item in batch) == list(range(11))


def test_single_process_helpers_are_no_ops() -> None:
    single = distributed.DistContext()
    assert distributed.init(single) is single
    assert distributed.gather_to_main({"a": 1}, single) == [{"a": 1}]
