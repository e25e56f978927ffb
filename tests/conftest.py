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
TASKS_DIR = REPO_ROOT / "tasks"


def pytest_report_header(config: pytest.Config) -> str:
    """Says up front whether the ``vllm`` tests (``-m vllm``) can run in this Python, and how to run them."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return ("vllm: not installed in this Python, so the tests marked vllm are skipped; "
                "`make test-vllm` builds .venv-vllm (make install-vllm) and runs them")
    return "vllm: installed; the tests marked vllm run with -m vllm (make test-vllm)"


def conformance_path(benchmark: str, *parts: str) -> Path:
    """``tasks/<benchmark>/conformance/<parts>`` (official-scorer data shipped in the repository).

    A missing file is a test failure, never a skip: the data is part of the repository
    (``tasks/<benchmark>/conformance/README.md`` gives its provenance; ``scripts/import_conformance.py`` re-copies it).
    """
    path = TASKS_DIR / benchmark / "conformance" / Path(*parts)
    if not path.exists():
        pytest.fail(f"conformance data {path} is missing; restore it (git checkout tasks/{benchmark}/conformance) "
                    f"or re-copy it with scripts/import_conformance.py")
    return path


def score_with_cli(capsys, path: Path, output: Path) -> dict:
    """``mg-eval score PATH --output OUTPUT`` with format detection on; the results.json record it wrote."""
    from mg_eval.cli.main import main
    from mg_eval.engine.results import read_results

    code = main(["score", str(path), "--output", str(output)])
    out = capsys.readouterr().out
    assert code == 0, out
    (written,) = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("wrote ")]
    return read_results(written)


@pytest.fixture(scope="session")
def conformance():
    """``conformance(benchmark, *parts) -> Path``: see :func:`conformance_path`."""
    return conformance_path


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
