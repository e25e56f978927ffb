"""Stages (what trains), optimizer groups, official defaults, DeepSpeed configs, the synthetic set, `mg-eval train`."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mg_model.train.data import TrainingInputError
from mg_model.train.stages import (
    configure_trainable,
    is_trainable,
    load_adapter,
    official_defaults,
    parameter_groups,
    parse_lr_multi,
    save_adapter,
    size_of_variant,
)
from mg_model.train.synthetic import TEST_FILE, SyntheticSpec, draw_sample, write_dataset
from mg_model.train.trainer import DS_PRESETS, TrainConfig, cosine_schedule, ds_config_path, fill_ds_config


@pytest.fixture(scope="module")
def tiny_model():
    from mg_model import build_tiny_model

    return build_tiny_model(seed=0)


def test_trainable_parameters_per_stage(tiny_model) -> None:
    counts = configure_trainable(tiny_model, "pretrain")
    trainable = {n for n, p in tiny_model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.mm_projector", "model.vlm_uni_")) for n in trainable)
    assert {n.split(".")[1] for n in trainable} == {"mm_projector", "vlm_uni_query_projector",
                                                   "vlm_uni_aux_projector", "vlm_uni_val_projector"}
    assert counts["frozen"] > counts["trainable"] > 0
    configure_trainable(tiny_model, 2)
    frozen = {n for n, p in tiny_model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("model.vision_tower.", "model.vision_tower_aux.")) for n in frozen)
    assert is_trainable("lm_head.weight", "finetune") and is_trainable("model.embed_tokens.weight", "finetune")
    with pytest.raises(TrainingInputError, match="unknown training stage"):
        is_trainable("x", "stage3")


def test_lr_multiplier_groups(tiny_model) -> None:
    configure_trainable(tiny_model, "finetune")
    groups = parameter_groups(tiny_model, 1e-5, weight_decay=0.1,
                              lr_multi=parse_lr_multi("model.mm_projector:2,model.vlm_uni:2"))
    by_name = {name: group for group in groups for name in group["names"]}
    assert by_name["model.mm_projector.0.weight"]["lr"] == pytest.approx(2e-5)
    assert by_name["model.vlm_uni_val_projector.1.weight"]["lr"] == pytest.approx(2e-5)
    assert by_name["lm_head.weight"]["lr"] == pytest.approx(1e-5)
    assert by_name["model.mm_projector.0.bias"]["weight_decay"] == 0.0
    assert by_name["lm_head.weight"]["weight_decay"] == 0.1
    n_trainable = sum(1 for p in tiny_model.parameters() if p.requires_grad)
    assert sum(len(g["params"]) for g in groups) == n_trainable
    with pytest.raises(TrainingInputError, match="NAME:FACTOR"):
        parse_lr_multi("model.mm_projector=2")


def test_adapter_roundtrip_initialises_an_hd_model(tiny_model, tmp_path) -> None:
    """Stage 2 HD starts from the non-HD stage-1 adapter (shapes do not depend on the resolution)."""
    from mg_model import build_tiny_model

    path = save_adapter(tiny_model, tmp_path)
    hd = build_tiny_model(hd=True, seed=1)
    loaded = load_adapter(hd, path)
    assert loaded and all("mm_projector" in k or "vlm_uni" in k for k in loaded)
    for key in loaded:
        assert torch.equal(hd.state_dict()[key], tiny_model.state_dict()[key])
    with pytest.raises(TrainingInputError, match="not found"):
        load_adapter(hd, tmp_path / "nope.bin")


def test_official_defaults_match_the_scripts() -> None:
    seven = official_defaults("7b", "finetune")
    assert (seven.deepspeed, seven.lr, seven.global_batch, seven.template) == ("zero2_offload", 2e-5, 128, "vicuna_v1")
    assert official_defaults("7b", "pretrain").global_batch == 256
    assert official_defaults("2b", "pretrain").template == "gemma"
    mixtral_hd = official_defaults("8x7b", "finetune", hd=True)
    assert (mixtral_hd.deepspeed, mixtral_hd.lr, mixtral_hd.max_length) == ("zero3", 1e-5, 4096)
    assert mixtral_hd.lr_multi == "model.mm_projector:2,model.vlm_uni:2"
    assert official_defaults("8b", "finetune", hd=True).deepspeed == "zero3"
    assert size_of_variant("mgm-8x7b-hd") == "8x7b" and size_of_variant("MGM-7B") == "7b"


def test_deepspeed_configs_fill_every_auto_value() -> None:
    config = TrainConfig(model_path=".", data_path="d.json", output_dir="o", per_device_batch=4, grad_accum=2,
                         bf16=True)
    for preset in DS_PRESETS:
        raw = json.loads(ds_config_path(preset).read_text())
        filled = fill_ds_config(raw, config, world_size=8, hidden_size=64)
        assert "auto" not in json.dumps(filled)
        assert filled["train_batch_size"] == 4 * 2 * 8 and filled["bf16"]["enabled"] is True
        assert filled["fp16"]["enabled"] is False
    zero3 = fill_ds_config(json.loads(ds_config_path("zero3").read_text()), config, 1, 64)
    assert zero3["zero_optimization"]["stage"] == 3
    assert zero3["zero_optimization"]["stage3_param_persistence_threshold"] == 640
    offload = fill_ds_config(json.loads(ds_config_path("zero2_offload").read_text()), config, 1, 64)
    assert offload["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    with pytest.raises(TrainingInputError, match="not one of"):
        ds_config_path("zero4")


def test_cosine_schedule_warmup_and_decay() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = cosine_schedule(optimizer, warmup_steps=2, total=10)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert lrs[2] == pytest.approx(1.0) and lrs[-1] < 0.05 and all(a >= b for a, b in zip(lrs[1:], lrs[2:]))


def test_synthetic_sign_detail_is_degraded_by_the_lr_path() -> None:
    """Inside the sign, the LR path (bilinear down-sampling of the HR image, docs/official_code.md#image-preprocessing) does not keep the glyphs:
    re-upsampled, it differs from the HR pixels by a fifth of their contrast or more."""
    spec = SyntheticSpec(hr_size=128, grid=4, digits=2, font_px=9, jitter=1)
    for seed in range(3):
        image, answer, (row, col) = draw_sample(spec, random.Random(seed))
        assert len(answer) == 2 and answer.isdigit()
        pixels = torch.tensor(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
        lr = F.interpolate(pixels, size=[56, 56], mode="bilinear", align_corners=False)
        up = F.interpolate(lr, size=[128, 128], mode="bilinear", align_corners=False)
        top, left = row * 32 + 6, col * 32 + 6
        hr_sign, lr_sign = pixels[0, :, top:top + 20, left:left + 20], up[0, :, top:top + 20, left:left + 20]
        assert hr_sign.std() > 25  # there is ink on the sign
        assert (hr_sign - lr_sign).abs().mean() > 0.2 * hr_sign.std()


def test_synthetic_dataset_is_deterministic_and_in_textvqa_layout(tmp_path) -> None:
    spec = SyntheticSpec(digits=1)
    a = write_dataset(tmp_path / "a", spec, n_train=6, n_test=3, seed=1)
    b = write_dataset(tmp_path / "b", spec, n_train=6, n_test=3, seed=1)
    assert (a / "train.json").read_text() == (b / "train.json").read_text()
    assert (a / "images" / "test_00002.jpg").read_bytes() == (b / "images" / "test_00002.jpg").read_bytes()
    test = json.loads((a / TEST_FILE).read_text())
    assert test["dataset_type"] == "val" and len(test["data"]) == 3
    assert all(len(q["answers"]) == 10 and len(set(q["answers"])) == 1 for q in test["data"])
    train = json.loads((a / "train.json").read_text())
    assert train[0]["conversations"][0]["value"].startswith("<image>\n")


def test_synth_detail_task_loads_and_scores(tmp_path) -> None:
    from mg_eval.tasks import get_task

    data = write_dataset(tmp_path / "s", SyntheticSpec(digits=2), n_train=2, n_test=3, seed=0)
    task = get_task("synth_detail")
    docs = task.load(data_path=str(data))
    assert len(docs) == 3 and task.doc_to_visual(docs[0])[0].size == (128, 128)
    prompt = task.doc_to_text(docs[0], "mgm")
    assert prompt.endswith("\nAnswer the question using a single word or phrase.")
    record = task.process_result(docs[0], docs[0]["answers"][0], "mgm")
    assert record["score"] == 1.0
    assert task.aggregate([record], "mgm")["accuracy"] == 100.0


def test_cli_train_resolves_official_defaults(capsys) -> None:
    from mg_eval.cli.main import main

    assert main(["train", "--size", "8x7b", "--stage", "finetune", "--hd", "--show-defaults", "--lr", "3e-5"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["deepspeed"] == "zero3" and shown["lr"] == 3e-5 and shown["max_length"] == 4096
    assert shown["template"] == "mistral_instruct" and shown["lr_multi"] == "model.mm_projector:2,model.vlm_uni:2"
    assert main(["train", "--data", "x.json"]) == 2
    assert "needs --model, --output" in capsys.readouterr().err
