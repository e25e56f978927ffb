"""From an ablation spec row to a trained checkpoint (`mg-eval ablate --train`): build missing rows, never
retrain built ones, apply the row's delta, hand the evaluation its data paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mg_eval.ablation.spec import load_spec
from mg_eval.ablation.train import load_recipe, recipe_path_for, train_missing_rows
from mg_model.train.data import TrainingInputError

SPEC = """\
name: mini
base: tiny
metrics:
  - {key: synth, header: Synth, task: synth_detail, score: accuracy}
rows:
  - {id: base_row, label: No mining, delta: {mining: false}, checkpoint: ckpt/base_row}
  - {id: hd_row, label: Token extension, delta: {image_grid: 2, image_global: true, image_size_aux: 256},
     checkpoint: ckpt/hd_row}
"""


def _recipe(data_dir: Path) -> str:
    return f"""\
base: {{tiny: {{seed: 0}}}}
data: {{synthetic: {{out: {data_dir}, n_train: 8, n_test: 2, seed: 0, digits: 1}}}}
eval_data: {{synth_detail: {data_dir}}}
stages:
  - {{stage: finetune, template: vicuna_v1, max_steps: 2, per_device_batch: 4, lr: 1.0e-3, progress: false}}
"""


def test_rows_are_built_once_with_their_delta(tmp_path: Path, capsys) -> None:
    from mg_model import MGMForCausalLM

    spec_path = tmp_path / "mini.yaml"
    spec_path.write_text(SPEC)
    recipe_path_for(spec_path).write_text(_recipe(tmp_path / "synth"))
    spec = load_spec(spec_path)
    torch.set_num_threads(1)
    options = train_missing_rows(spec, checkpoint_root=tmp_path)
    assert options == {"data_paths": {"synth_detail": str(tmp_path / "synth")}}
    hd = MGMForCausalLM.from_pretrained(tmp_path / "ckpt" / "hd_row")
    assert (hd.config.image_grid, hd.config.image_global, hd.config.image_size_aux) == (2, True, 256)
    base = MGMForCausalLM.from_pretrained(tmp_path / "ckpt" / "base_row")
    assert float(base.model.vlm_uni_val_projector[1].weight.detach().abs().sum()) == 0.0  # mining off
    assert not list((tmp_path / "ckpt").glob("*.training"))
    stamp = (tmp_path / "ckpt" / "hd_row" / "config.json").stat().st_mtime_ns
    capsys.readouterr()
    train_missing_rows(spec, checkpoint_root=tmp_path)
    assert "checkpoint exists, not retrained" in capsys.readouterr().out
    assert (tmp_path / "ckpt" / "hd_row" / "config.json").stat().st_mtime_ns == stamp
    recipe_path_for(spec_path).write_text(_recipe(tmp_path / "synth").replace("seed: 0}}", "seed: 1}}", 1))
    with pytest.raises(TrainingInputError, match=r"base_row: .* was trained from the base .*base-tiny-seed0, but the "
                                                  r"recipe now builds .*base-tiny-seed1"):
        train_missing_rows(spec, checkpoint_root=tmp_path)  # never mixed with rows of another base


def test_recipe_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "x.train.yaml"
    path.write_text("base: {tiny: {}}\ndata: {data_path: d.json}\nstages: [{stage: finetune, lrr: 1}]\n")
    with pytest.raises(TrainingInputError, match=r"x.train.yaml: stages\[0\] has unknown key\(s\) \['lrr'\]"):
        load_recipe(path)
    with pytest.raises(TrainingInputError, match="not found"):
        load_recipe(tmp_path / "missing.train.yaml")
    path.write_text("base: {tiny: {pretrain_encoders: {lr_steps: many}}}\ndata: {synthetic: {}}\n"
                    "stages: [{stage: finetune}]\n")
    with pytest.raises(TrainingInputError, match=r"base.tiny.pretrain_encoders.lr_steps must be of type int"):
        load_recipe(path)
    path.write_text("base: {tiny: {warm_start_llm: {steps: 3}}}\ndata: {data_path: d.json}\nstages: [{stage: finetune}]\n")
    with pytest.raises(TrainingInputError, match=r"warm_start_llm needs 'data: synthetic"):
        load_recipe(path)
