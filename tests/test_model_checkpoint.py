"""Official checkpoint layout: writing, loading, key report, encoder lookup, save/load round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mg_model import CheckpointError, MGMForCausalLM, build_tiny_checkpoint, build_tiny_model
from mg_model.checkpoint.loading import CLIP_PREFIX

CLIP_DIR = "model_zoo/OpenAI/clip-vit-large-patch14-336"
HR_DIR = "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup"


def _inputs(hd: bool = False) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    images = torch.randn(1, 5, 3, 56, 56, generator=generator) if hd else torch.randn(1, 3, 56, 56, generator=generator)
    side = 256 if hd else 128
    return {
        "input_ids": torch.tensor([[1, 319, 13, -200, 501, 13, 450, 2]]),
        "images": images,
        "images_aux": torch.randn(1, 3, side, side, generator=generator),
    }


def _logits(model: MGMForCausalLM, hd: bool = False) -> torch.Tensor:
    with torch.no_grad():
        return model(**_inputs(hd)).logits


def _copy(checkpoint: Path, tmp_path: Path) -> Path:
    target = tmp_path / checkpoint.name
    shutil.copytree(checkpoint, target)
    return target


def _all_shard_keys(checkpoint: Path) -> dict[str, str]:
    return json.loads((checkpoint / "model.safetensors.index.json").read_text())["weight_map"]


def test_tiny_checkpoint_has_the_official_layout(tiny_checkpoint: Path) -> None:
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["model_type"] == "mgm"
    assert config["architectures"] == ["MGMLlamaForCausalLM"]
    assert config["mm_vision_tower"] == CLIP_DIR and config["mm_vision_tower_aux"] == HR_DIR
    assert "mm_vision_config" not in config  # the CLIP folder describes CLIP, as in released files
    keys = _all_shard_keys(tiny_checkpoint)
    assert len(set(keys.values())) >= 2  # sharded
    assert any(k.startswith(CLIP_PREFIX + "encoder.layers.0.") for k in keys)
    assert "model.vlm_uni_aux_projector.1.weight" in keys and "model.mm_projector.2.weight" in keys
    assert "model.vision_tower_aux.vision_stages.3.blocks.0.gamma" in keys
    assert (tiny_checkpoint / CLIP_DIR / "preprocessor_config.json").is_file()
    open_clip_keys = torch.load(tiny_checkpoint / HR_DIR / "open_clip_pytorch_model.bin", weights_only=True)
    assert "visual.trunk.stem.0.weight" in open_clip_keys
    assert (tiny_checkpoint / HR_DIR / "open_clip_config.json").is_file()
    assert (tiny_checkpoint / "tokenizer.json").is_file()


@pytest.mark.parametrize("hd", [False, True])
def test_loaded_checkpoint_gives_identical_logits(hd: bool, tiny_checkpoint: Path, tiny_checkpoint_hd: Path) -> None:
    path = tiny_checkpoint_hd if hd else tiny_checkpoint
    loaded = MGMForCausalLM.from_pretrained(path)
    assert not loaded.training
    reference = build_tiny_model(hd=hd, seed=0)
    got = _logits(loaded, hd)
    assert got.shape == (1, 7 + (80 if hd else 16), 808)
    torch.testing.assert_close(got, _logits(reference, hd), rtol=0, atol=0)


@pytest.mark.parametrize("llm", ["gemma", "mixtral"])
def test_other_llms_round_trip_with_official_key_names(llm: str, tmp_path: Path) -> None:
    path = build_tiny_checkpoint(tmp_path / f"MGM-tiny-{llm}", llm=llm, seed=1)
    keys = _all_shard_keys(path)
    if llm == "mixtral":
        assert "model.layers.0.block_sparse_moe.experts.3.w2.weight" in keys
        assert "model.layers.0.block_sparse_moe.gate.weight" in keys
    else:
        assert "lm_head.weight" not in keys  # tied to the embedding, as Gemma checkpoints
    loaded = MGMForCausalLM.from_pretrained(path)
    torch.testing.assert_close(_logits(loaded), _logits(build_tiny_model(llm, seed=1)), rtol=0, atol=0)


def test_gemma_scales_image_tokens_like_text_embeddings() -> None:
    model = build_tiny_model("gemma")
    batch = _inputs()
    with torch.no_grad():
        spliced = model.embed_multimodal(batch["input_ids"], None, batch["images"], batch["images_aux"])
        features = model.encode_images(batch["images"], batch["images_aux"])
    scale = torch.tensor(64**0.5)
    torch.testing.assert_close(spliced["inputs_embeds"][0, 3:19], features[0] * scale)


def test_clip_weights_come_from_the_clip_folder_when_the_shards_lack_them(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    index = json.loads((path / "model.safetensors.index.json").read_text())
    for shard in set(index["weight_map"].values()):
        tensors = load_file(str(path / shard))
        save_file({k: v for k, v in tensors.items() if not k.startswith(CLIP_PREFIX)}, str(path / shard))
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if not k.startswith(CLIP_PREFIX)}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    torch.testing.assert_close(_logits(MGMForCausalLM.from_pretrained(path)), _logits(build_tiny_model()))


def test_convnext_weights_come_from_the_open_clip_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    file = path / HR_DIR / "open_clip_pytorch_model.bin"
    tensors = torch.load(file, weights_only=True)
    tensors["visual.trunk.stem.0.bias"] = torch.full_like(tensors["visual.trunk.stem.0.bias"], 0.25)
    torch.save(tensors, file)
    loaded = MGMForCausalLM.from_pretrained(path)
    assert torch.all(loaded.model.vision_tower_aux.vision_stem[0].bias == 0.25)


def test_encoder_folders_are_found_under_encoder_root(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    root = tmp_path / "encoders"
    shutil.move(str(path / "model_zoo"), str(root / "model_zoo"))
    with pytest.raises(CheckpointError, match="encoder_root"):
        MGMForCausalLM.from_pretrained(path)
    with pytest.raises(CheckpointError, match="is not a directory"):
        MGMForCausalLM.from_pretrained(path, encoder_root=tmp_path / "no-such-folder")
    loaded = MGMForCausalLM.from_pretrained(path, encoder_root=root)
    torch.testing.assert_close(_logits(loaded), _logits(build_tiny_model()), rtol=0, atol=0)


def test_single_file_checkpoint_loads(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    merged = {}
    for shard in sorted(path.glob("model-*.safetensors")):
        merged.update(load_file(str(shard)))
        shard.unlink()
    (path / "model.safetensors.index.json").unlink()
    save_file(merged, str(path / "model.safetensors"))
    torch.testing.assert_close(_logits(MGMForCausalLM.from_pretrained(path)), _logits(build_tiny_model()))


def test_missing_unexpected_and_misshaped_keys_give_one_report(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    index = json.loads((path / "model.safetensors.index.json").read_text())
    shard = index["weight_map"]["model.vlm_uni_query_projector.1.weight"]
    tensors = load_file(str(path / shard))
    del tensors["model.vlm_uni_query_projector.1.weight"]
    tensors["model.vlm_uni_typo.weight"] = torch.zeros(2)
    reshaped = next(k for k in sorted(tensors) if k.endswith(".bias"))
    tensors[reshaped] = torch.zeros(3)
    save_file(tensors, str(path / shard))
    with pytest.raises(CheckpointError) as raised:
        MGMForCausalLM.from_pretrained(path)
    report = str(raised.value)
    assert "1 missing key(s)" in report and "model.vlm_uni_query_projector.1.weight" in report
    assert "1 unexpected key(s)" in report and "model.vlm_uni_typo.weight" in report
    assert "1 mis-shaped key(s)" in report and reshaped in report and "(3,)" in report


def test_config_json_written_by_transformers_4_36_loads(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config.update({"_name_or_path": "./checkpoints/MGM-7B", "rope_theta": 10000.0, "rope_scaling": None,
                   "pretraining_tp": 1, "attention_bias": False, "torch_dtype": "bfloat16", "use_cache": True,
                   "transformers_version": "4.36.2", "initializer_range": 0.02})
    (path / "config.json").write_text(json.dumps(config))
    torch.testing.assert_close(_logits(MGMForCausalLM.from_pretrained(path)), _logits(build_tiny_model()))


def test_unknown_config_key_is_reported_with_the_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = _copy(tiny_checkpoint, tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["image_grid_typo"] = 2
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config\.json.*image_grid_typo"):
        MGMForCausalLM.from_pretrained(path)


def test_save_pretrained_round_trip(tiny_checkpoint_hd: Path, tmp_path: Path) -> None:
    model = MGMForCausalLM.from_pretrained(tiny_checkpoint_hd)
    out = tmp_path / "saved"
    model.save_pretrained(out)
    original = json.loads((tiny_checkpoint_hd / "config.json").read_text())
    saved = json.loads((out / "config.json").read_text())
    assert {k: v for k, v in saved.items() if k != "mm_vision_config"} == original
    assert set(_all_shard_keys(out)) == set(_all_shard_keys(tiny_checkpoint_hd))
    reloaded = MGMForCausalLM.from_pretrained(out)  # no encoder folders: CLIP + ConvNeXt from the shards
    torch.testing.assert_close(_logits(reloaded, hd=True), _logits(model, hd=True), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, "float16"])
def test_dtype_option(dtype: torch.dtype | str, tiny_checkpoint: Path) -> None:
    model = MGMForCausalLM.from_pretrained(tiny_checkpoint, torch_dtype=dtype)
    expected = torch.bfloat16 if dtype is torch.bfloat16 else torch.float16
    assert {p.dtype for p in model.parameters()} == {expected}
    if expected is torch.bfloat16:  # CPU fp16 matmuls are slow/partial; bf16 runs end to end
        logits = _logits(model)
        assert torch.isfinite(logits).all()
        reference = _logits(MGMForCausalLM.from_pretrained(tiny_checkpoint))
        assert (logits.argmax(-1) == reference.argmax(-1)).float().mean() > 0.8


def test_auto_classes_after_registration(tiny_checkpoint: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM

    from mg_model import MGMConfig, register_mgm

    register_mgm()
    config = AutoConfig.from_pretrained(tiny_checkpoint)
    assert isinstance(config, MGMConfig) and config.image_size_aux == 128
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    assert isinstance(model, MGMForCausalLM)
