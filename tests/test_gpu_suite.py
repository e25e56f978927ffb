"""bench/gpu_suite.py: the roofline model reproduces the tables of docs/roofline.md#suite-roofline, and ``--tiny`` runs the whole path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from suite_roofline import DEVICES, LLMShape, benchmark_minutes, device_spec  # noqa: E402
from suite_workload import BENCHMARKS, ForcedLengthProcessor, draw_lengths  # noqa: E402

# docs/roofline.md#benchmark-workload: n, question tokens, generated tokens incl. EOS
SPEC_BENCH = {"textvqa": (5000, 58, 4), "mmbench": (4377, 89, 2), "mme": (2374, 37, 2), "mmvet": (218, 15, 120),
              "mmmu": (900, 114, 2), "mathvista": (1000, 64, 100)}
SPEC_VISION = {"LR": 381.9e9 + 807.8e9 + 436.2e9 + 24.2e9, "HD": 5 * 381.9e9 + 3231.2e9 + 2181.1e9 + 120.8e9}


@pytest.mark.parametrize(("mode", "visual", "batch", "batched_total", "batch1_total", "textvqa"),
                         [("LR", 576, 64, 3.59, 14.26, (1.16, 2.24)), ("HD", 2880, 16, 16.16, 26.32, (5.30, 6.33))])
def test_roofline_reproduces_spec_tables(mode, visual, batch, batched_total, batch1_total, textvqa) -> None:
    from mg_model.variants import variant_config

    llm = LLMShape.from_llm_config(variant_config("mgm-7b").llm_config())
    assert llm.linear_params == pytest.approx(6.476e9, rel=1e-3) and llm.kv_bytes_per_token == 524288
    minutes = {name: benchmark_minutes(llm, DEVICES["H100"], SPEC_VISION[mode], [41 + q + visual], [g], batch, n)
               for name, (n, q, g) in SPEC_BENCH.items()}
    assert minutes["textvqa"] == pytest.approx(textvqa, abs=0.006)
    assert sum(m[0] for m in minutes.values()) == pytest.approx(batched_total, abs=0.01)
    assert sum(m[1] for m in minutes.values()) == pytest.approx(batch1_total, abs=0.01)
    assert device_spec("NVIDIA H200").hbm_bytes_per_s == 4.8e12 and device_spec("NVIDIA H100 80GB HBM3").name == "H100"


def test_forced_lengths_follow_the_benchmark_shapes() -> None:
    shapes = {shape.name: shape for shape in BENCHMARKS}
    assert set(draw_lengths(shapes["textvqa"], 50)) == {4}
    mathvista = draw_lengths(shapes["mathvista"], 1000)
    assert mathvista == draw_lengths(shapes["mathvista"], 1000)  # seeded
    assert max(mathvista) <= 1024 and sorted(mathvista)[500] < 60 < 80 < sum(mathvista) / 1000 < 110
    scores = ForcedLengthProcessor(torch.tensor([1, 3]), eos_token_id=2)(torch.zeros(2, 0, dtype=torch.long),
                                                                         torch.zeros(2, 5))
    assert scores[0].argmax() == 2 and scores[1, 2] == float("-inf")


def test_tiny_dry_run_covers_every_phase(tmp_path: Path) -> None:
    out = tmp_path / "suite.md"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    completed = subprocess.run([sys.executable, str(BENCH / "gpu_suite.py"), "--tiny", "--out", str(out)],
                               capture_output=True, text=True, timeout=900, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = out.read_text()
    assert report.strip() in completed.stdout  # --out holds what was printed
    for mode in ("LR", "HD"):
        section = report.split(f"### {mode}:")[1].split("###")[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and "|---" not in line]
        for shape in BENCHMARKS:
            row = next(line for line in rows if line.startswith(f"| {shape.name} |"))
            assert row.rstrip().endswith("| 1.00 |"), row  # every row generated exactly its forced length
        assert "**suite (6/6)**" in section and "Official-style batch-1 loop" in section
        assert "| **suite** |" in section and "Largest batch" in section
    assert "roofline constants: H100 790 TFLOP/s, 3.0 TB/s" in report
