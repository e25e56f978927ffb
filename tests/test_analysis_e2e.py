"""`mg-eval ablate` end to end through the real engine on tiny random checkpoints (slow: runs a model)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mg_eval.cli.main import main as mg_eval_main

SPEC = """
name: e2e
base: tiny
metrics:
  - {key: textvqa, header: TextVQA, task: textvqa_val, score: accuracy}
  - {key: mme, header: MME, task: mme, score: perception_total}
rows:
  - {id: a, label: seed 0, checkpoint: ckpt/a}
  - {id: b, label: seed 1, checkpoint: ckpt/b}
  - {id: c, label: not built, checkpoint: ckpt/c}
"""


@pytest.mark.slow
def test_ablate_evaluates_built_rows_through_the_engine_and_resumes(tmp_path: Path, capsys) -> None:
    from mg_model import build_tiny_checkpoint

    build_tiny_checkpoint(tmp_path / "ckpt" / "a", seed=0)
    build_tiny_checkpoint(tmp_path / "ckpt" / "b", seed=1)
    spec = tmp_path / "e2e.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    argv = ["ablate", str(spec), "--checkpoint-root", str(tmp_path), "--output", str(tmp_path / "out"),
            "--sample-data", "--max-new-tokens-cap", "4", "--batch-size", "4", "--device", "cpu",
            "--resamples", "200"]
    assert mg_eval_main(argv) == 0
    out = capsys.readouterr().out
    assert "a: evaluated (textvqa_val, mme)" in out and "c: pending" in out
    rows = {row["row"]: row for row in csv.DictReader(open(tmp_path / "out" / "e2e.csv", encoding="utf-8"))}
    assert rows["a"]["status"] == rows["b"]["status"] == "done" and rows["c"]["status"] == "pending"
    for row_id in ("a", "b"):
        assert float(rows[row_id]["textvqa_ci_low"]) <= float(rows[row_id]["textvqa"]) <= float(rows[row_id]["textvqa_ci_high"])
    assert rows["b"]["mme_p_value"] != ""  # paired over the same sample images

    assert mg_eval_main(argv) == 0  # rerun: nothing evaluated again
    assert "a: up to date" in capsys.readouterr().out
