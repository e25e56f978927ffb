"""Bad input to ``mg-eval run --backend vllm``: one ``error:`` line, exit 2, before any data or model is loaded.

Without vLLM the error says how to install it (runs in the main environment); with vLLM (``-m vllm``) a head size
vLLM's CPU attention cannot run, an image that does not fit the context and options the backend does not take
are refused before the engine starts.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from vllm_helpers import HAS_VLLM, SKIP_WITHOUT_VLLM, tiny_vllm_checkpoint

from mg_eval.cli.main import main


def _error_line(argv: list[str]) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    lines = [line for line in err.getvalue().splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
    return lines[0]


def _run(checkpoint: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--backend", "vllm", "--model", str(checkpoint), "--tasks", "textvqa_val", "--sample-data",
            "--output", str(tmp_path / "out"), *extra]


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here: the missing-vLLM message cannot be shown")
def test_without_vllm_the_error_says_how_to_install_it(tiny_checkpoint: Path, tmp_path: Path) -> None:
    line = _error_line(_run(tiny_checkpoint, tmp_path))
    assert "vLLM is not installed" in line and "make install-vllm" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.vllm
@SKIP_WITHOUT_VLLM
@pytest.mark.parametrize("extra, words", [
    (["--backend-option", "swap_space=4"], ["--backend-option swap_space", "tensor_parallel_size"]),
    (["--backend-option", "tensor_parallel_size=0"], ["tensor_parallel_size=0", "positive"]),
    (["--attn", "sdpa"], ["--attn sdpa", "'vllm'"]),
    (["--continuous"], ["--continuous", "'vllm'"]),
    (["--device-map", "auto"], ["--device-map", "'vllm'"]),
    (["--backend-option", "max_model_len=100000"], ["max_model_len=100000", "max_position_embeddings 4096"]),
])
def test_options_the_backend_does_not_take(tmp_path: Path, extra: list[str], words: list[str]) -> None:
    checkpoint = tiny_vllm_checkpoint(tmp_path, "llama", False)
    line = _error_line(_run(checkpoint, tmp_path, *extra))
    assert all(word in line for word in words), line


@pytest.mark.vllm
@SKIP_WITHOUT_VLLM
def test_a_head_size_the_cpu_kernels_refuse(tiny_checkpoint: Path, tmp_path: Path) -> None:
    line = _error_line(_run(tiny_checkpoint, tmp_path, "--device", "cpu"))  # the default tiny model: head_dim 16
    assert "head_dim 16" in line and "--backend mgm" in line and str(tiny_checkpoint) in line


@pytest.mark.vllm
@SKIP_WITHOUT_VLLM
def test_an_image_longer_than_the_context(tmp_path: Path) -> None:
    checkpoint = tiny_vllm_checkpoint(tmp_path, "llama", False)
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "tokenizer_model_max_length": 12}))
    line = _error_line(_run(checkpoint, tmp_path))
    assert "16 visual tokens" in line and "tokenizer_model_max_length" in line


def test_parallel_flags_are_backend_options(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import argparse

    from mg_eval.cli.run import add_arguments, backend_settings

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "m", "--tasks", "t", "--tensor-parallel-size", "2",
                              "--data-parallel-size", "3", "--backend-option", "max_model_len=4096"])
    assert backend_settings(args)[1] == {"tensor_parallel_size": 2, "data_parallel_size": 3, "max_model_len": 4096}
    # the reference backend takes no engine options: refused by name, before anything loads
    line = _error_line(["run", "--model", str(tiny_checkpoint), "--tasks", "textvqa_val", "--sample-data",
                        "--output", str(tmp_path / "out"), "--tensor-parallel-size", "2"])
    assert "tensor_parallel_size" in line and "'mgm'" in line
    assert not (tmp_path / "out").exists()
