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
