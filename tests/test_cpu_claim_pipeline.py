"""A 1-step version of the whole CPU-claim pipeline (`make cpu-claim`, results/cpu_claim/README.md).

The shipped spec and recipe are read and only their counts shrunk (images, steps, questions), so every stage
runs as in the real command: synthetic data, pretext pretraining of both encoders, the LLM's text warm start,
stage 1 and stage 2 for every row and seed, evaluation through the engine, the table, the seed summary with
the pre-registered criterion, and the README section with its learning-curve figure.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
CLIP_WEIGHTS = "model_zoo/OpenAI/clip-vit-large-patch14-336/model.safetensors"


def _one_step_copy(tmp_path: Path) -> None:
    """The shipped spec + recipe under ``tmp_path/ablations`` with every count cut to a 1-step run."""
    spec = yaml.safe_load((ROOT / "ablations/cpu_info_mining.yaml").read_text())
    recipe = yaml.safe_load((ROOT / "ablations/cpu_info_mining.train.yaml").read_text())
    tiny = recipe["base"]["tiny"]
    tiny["pretrain_encoders"].update(n_images=8, n_probe=4, lr_steps=1, hr_steps=1, batch_size=4)
    tiny["warm_start_llm"].update(n_texts=8, n_probe=4, steps=1, batch_size=4)
    recipe["data"]["synthetic"].update(out="gen", n_train=8, n_test=4)
    recipe["eval_data"] = {"synth_detail": "gen"}
    for stage in recipe["stages"]:
        stage.update(max_steps=1, per_device_batch=4, save_steps=0, progress=False)
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations/cpu_info_mining.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "ablations/cpu_info_mining.train.yaml").write_text(yaml.safe_dump(recipe))
    readme = tmp_path / "results/cpu_claim/README.md"
    readme.parent.mkdir(parents=True)
    readme.write_text("# kept\n<!-- generated:begin -->\nold\n<!-- generated:end -->\nkept too\n")


def test_one_step_pipeline_builds_evaluates_and_reports_every_row_and_seed(tmp_path: Path, monkeypatch) -> None:
    from mg_eval.cli.main import main

    _one_step_copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    assert main(["ablate", "ablations/cpu_info_mining.yaml", "--train", "--batch-size", "4", "--resamples", "50",
                 "--output", "results/cpu_claim/ablation"]) == 0

    work = tmp_path / "checkpoints/ablations/_cpu_info_mining_work"
    random_base = work / "base-tiny-seed0"
    [base] = list(work.glob("base-tiny-seed0-pretrained-*"))
    report = json.loads((base / "base_report.json").read_text())
    for part in ("lr_clip", "hr_convnext"):
        assert set(report["encoders"][part]["probe"]) == {"digit", "kind", "colour"}
    assert set(report["llm"]["probe"]) == {"answer_before", "answer"}
    before, after = load_file(random_base / CLIP_WEIGHTS), load_file(base / CLIP_WEIGHTS)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the encoder folder holds pretrained weights

    spec = yaml.safe_load((tmp_path / "ablations/cpu_info_mining.yaml").read_text())
    rows = [(row["id"], seed) for seed in spec["seeds"] for row in spec["rows"] if seed in row.get("seeds", spec["seeds"])]
    assert len(rows) == 7
    projectors = {}
    for arm, seed in rows:
        folder = tmp_path / f"checkpoints/ablations/cpu_info_mining/{arm}/seed{seed}"
        log = json.loads((folder / "ablation_row.json").read_text())
        assert log["seed"] == seed and [s["stage"] for s in log["stages"]] == ["pretrain", "finetune"]
        assert all(len(s["loss_per_50_steps"]) == 1 for s in log["stages"])
        tensors = {}
        for shard in folder.glob("model-*.safetensors"):
            tensors.update(load_file(shard))
        projectors[arm, seed] = tensors["model.mm_projector.0.weight"]
        if arm == "no_mining":
            assert float(tensors["model.vlm_uni_val_projector.1.weight"].abs().sum()) == 0.0
    assert not torch.equal(projectors["mining", 0], projectors["mining", 1])  # each seed its own projector init

    summary = json.loads((tmp_path / "results/cpu_claim/ablation/cpu_info_mining.seeds.json").read_text())
    criterion = summary["criterion"]
    assert sorted(criterion["per_seed"]) == ["0", "1", "2"] and criterion["pooled"]["n"] == 3 * 4
    assert isinstance(criterion["met"], bool)

    sys.path.insert(0, str(ROOT / "scripts/cpu_claim"))
    try:
        import write_readme
    finally:
        sys.path.remove(str(ROOT / "scripts/cpu_claim"))
    assert write_readme.main([]) == 0
    text = (tmp_path / "results/cpu_claim/README.md").read_text()
    assert text.startswith("# kept\n") and text.endswith("kept too\n") and "\nold\n" not in text
    assert "Pre-registered criterion" in text and "LR CLIP on LR views" in text and "mining_seed2" in text
    assert (tmp_path / "results/cpu_claim/learning_curves.png").stat().st_size > 1000
    shutil.rmtree(tmp_path / "checkpoints")
