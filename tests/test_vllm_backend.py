"""``mg-eval run --backend vllm``: the same answers as ``--backend mgm`` on every bundled sample of every task of
``mgm_paper`` and ``mgm_extended`` (tiny LR / HD, LLaMA / Gemma checkpoints, fp32 CPU, greedy), MMMU's decoding
recorded as a departure, and a run killed with -9 resumed. Runs only where vLLM is installed (make test-vllm)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from vllm_helpers import NEEDS_VLLM, TOKEN_CAP, read_runs, run_cli, tiny_vllm_checkpoint

pytestmark = NEEDS_VLLM
GROUPS = "mgm_paper,mgm_extended"


@pytest.mark.parametrize(("llm", "hd"), [("llama", False), ("llama", True), ("gemma", False), ("gemma", True)],
                         ids=["llama", "llama-hd", "gemma", "gemma-hd"])
def test_same_answers_as_the_mgm_backend(tmp_path_factory: pytest.TempPathFactory, llm: str, hd: bool) -> None:
    checkpoint = tiny_vllm_checkpoint(tmp_path_factory.getbasetemp(), llm, hd)
    out = tmp_path_factory.mktemp("runs")
    common = ["run", "--model", str(checkpoint), "--tasks", GROUPS, "--sample-data", "--output", str(out),
              "--max-new-tokens-cap", TOKEN_CAP, "--no-progress", "--num-workers", "0"]
    for backend in ("mgm", "vllm"):
        done = run_cli([*common, "--backend", backend])
        assert done.returncode == 0, done.stderr[-3000:]
    reference, served = read_runs(out / checkpoint.name), read_runs(out / f"{checkpoint.name}+vllm")
    assert sorted(reference) == sorted(served) and len(reference) == 12
    for task, (answers, results) in served.items():
        expected_answers, expected_results = reference[task]
        assert results["backend"]["name"] == "vllm"
        if results["backend"]["decoding"]["departure"]:  # MMMU: 5-beam sampling, not reproduced by vLLM
            assert task == "mmmu_val" and not results["for_reporting"]
            assert any("backend vllm" in reason for reason in results["not_for_reporting"])
            continue
        assert answers == expected_answers, task
        assert results["scores"] == expected_results["scores"], task


def test_a_run_killed_with_sigkill_resumes(tmp_path_factory: pytest.TempPathFactory) -> None:
    checkpoint = tiny_vllm_checkpoint(tmp_path_factory.getbasetemp(), "llama", False)
    out = tmp_path_factory.mktemp("killed")
    args = ["run", "--backend", "vllm", "--model", str(checkpoint), "--tasks", "pope", "--sample-data",
            "--output", str(out), "--batch-size", "1", "--max-new-tokens-cap", "64", "--no-progress",
            "--num-workers", "0"]
    store = out / f"{checkpoint.name}+vllm" / "pope" / ".store" / "mgm.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    child = subprocess.Popen([sys.executable, "-m", "mg_eval.cli.main", *args], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if store.is_file() and len(store.read_text(encoding="utf-8").splitlines()) >= 3:  # header + 2
                break
            time.sleep(0.2)
        assert child.poll() is None, "the run finished before it could be killed"
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    done = run_cli(args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed]" in done.stdout and " 0 resumed]" not in done.stdout, done.stdout
    fresh = tmp_path_factory.mktemp("uninterrupted")
    again = run_cli([*args[:args.index("--output")], "--output", str(fresh), *args[args.index("--output") + 2:]])
    assert again.returncode == 0, again.stderr[-3000:]
    resumed_answers = read_runs(out / f"{checkpoint.name}+vllm")["pope"][0]
    assert resumed_answers == read_runs(fresh / f"{checkpoint.name}+vllm")["pope"][0]
