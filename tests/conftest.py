"""Shared test set-up: offline hub access and small thread counts for a 2-core machine."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE_DIR = REPO_ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The official-scorer conformance data (`../shared/conformance`)."""
    if not CONFORMANCE_DIR.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE_DIR}")
    return CONFORMANCE_DIR


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MGM checkpoint (Vicuna-style LLaMA, non-HD) in the official layout, built once."""
    from mg_model import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-mgm") / "MGM-tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_checkpoint_hd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random HD MGM checkpoint (2x2 grid + global view) in the official layout, built once."""
    from mg_model import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-mgm-hd") / "MGM-tiny-HD", hd=True, seed=0)
