"""Helpers of the vLLM tests (``-m vllm``): the skip marker, tiny checkpoints vLLM can hold, CLI runs, reading runs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HAS_VLLM = importlib.util.find_spec("vllm") is not None
#: skips a test, with the reason, where vLLM is absent
SKIP_WITHOUT_VLLM = pytest.mark.skipif(
    not HAS_VLLM, reason="vLLM is not installed in this Python; `make test-vllm` runs these in .venv-vllm")
#: a module's ``pytestmark``: marked ``vllm`` (``make test-vllm`` selects them), skipped without vLLM
NEEDS_VLLM = [pytest.mark.vllm, SKIP_WITHOUT_VLLM]
#: answers are compared on their first 24 tokens (every greedy sample still decodes through the whole path)
TOKEN_CAP = "24"


def tiny_vllm_checkpoint(root: Path, llm: str, hd: bool) -> Path:
    """A tiny MGM checkpoint with head_dim 32 (vLLM's CPU attention refuses 16), built once per folder."""
    from mg_model import build_tiny_checkpoint
    from mg_model.variants import TINY_HEAD_DIM_32

    folder = root / f"MGM-tiny-{llm}{'-HD' if hd else ''}"
    if not (folder / "config.json").is_file():
        build_tiny_checkpoint(folder, llm=llm, hd=hd, seed=0, **TINY_HEAD_DIM_32)
    return folder


def run_cli(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    """``mg-eval`` in a child process of this Python (vLLM's engine gets a process of its own)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "mg_eval.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def read_runs(model_dir: Path) -> dict[str, tuple[dict[str, str], dict[str, Any]]]:
    """task -> ({doc_id: response}, results.json) of every run under ``results/<model>/``."""
    runs = {}
    for samples in sorted(model_dir.glob("*/*/samples.jsonl")):
        lines = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines() if line.strip()]
        results = json.loads((samples.parent / "results.json").read_text(encoding="utf-8"))
        runs[samples.parent.parent.name] = ({line["doc_id"]: line["response"] for line in lines}, results)
    return runs
