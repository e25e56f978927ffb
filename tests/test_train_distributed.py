"""Multi-process training through the launcher: torchrun with 2 CPU processes (DDP over gloo, and DeepSpeed
ZeRO-2/ZeRO-3 with the CPU accelerator). Slow (process start-up, DeepSpeed import): run with ``-m slow``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mg_model.train.synthetic import SyntheticSpec, write_dataset

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["none", "zero2", "zero3"])
def test_torchrun_two_processes(backend: str, tiny_checkpoint, tmp_path: Path) -> None:
    if backend != "none":
        pytest.importorskip("deepspeed")
    data = write_dataset(tmp_path / "data", SyntheticSpec(digits=1), n_train=8, n_test=2, seed=0)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(_free_port()), "-m", "mg_eval.cli.main", "train", "--model", str(tiny_checkpoint),
               "--data", str(data / "train.json"), "--image-folder", str(data), "--output", str(out),
               "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3", "--deepspeed", backend, "--save-steps", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and len(state["losses"]) == 2
    assert state["backend"] == ("torch" if backend == "none" else "deepspeed")
    assert (out / "config.json").is_file() and (out / "checkpoint-1" / "trainer_state.json").is_file()
