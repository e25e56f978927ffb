"""``build_tiny_checkpoint``: a complete random MGM checkpoint in the official on-disk layout (docs/official_code.md#on-disk-layout).

Layout written (``<out>`` = the checkpoint directory)::

    <out>/config.json                         flat LLM + MGM keys, relative model_zoo/OpenAI/... paths
    <out>/model-0000k-of-0000n.safetensors    official key names, several shards
    <out>/model.safetensors.index.json
    <out>/generation_config.json
    <out>/tokenizer.json, tokenizer.model, tokenizer_config.json   (mg_model/assets/tiny_tokenizer)
    <out>/model_zoo/OpenAI/clip-vit-large-patch14-336/{config.json, preprocessor_config.json, model.safetensors}
    <out>/model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup/
        {open_clip_config.json, open_clip_pytorch_model.bin}    (open_clip ``visual.trunk.*`` key names)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from .checkpoint.saving import save_mgm
from .checkpoint.tensors import CLIP_PREFIX, HR_PREFIX
from .constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from .constants import TINY_TOKENIZER_DIR as TOKENIZER_DIR
from .modeling_mgm import MGMForCausalLM, model_class_for, register_mgm
from .variants import TINY_LLMS, variant_config

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
OPENAI_MEAN = list(OPENAI_CLIP_MEAN)  # JSON lists for the tiny encoders' preprocessor / open_clip configs
OPENAI_STD = list(OPENAI_CLIP_STD)


def build_tiny_model(llm: str = "llama", hd: bool = False, seed: int = 0, **overrides: object) -> MGMForCausalLM:
    """A tiny random MGM model (eval mode) without touching the disk; same weights for the same seed.

    Args:
        llm: "llama", "gemma", "mixtral" or "mistral".
        hd: HD variant (2×2 grid + global view, HR 256).
        seed: weight seed (the global torch RNG is left as it was).
        **overrides: config keys to override.
    """
    if llm not in TINY_LLMS:
        raise ValueError(f"llm={llm!r}: choose one of {sorted(TINY_LLMS)}")
    register_mgm()
    name = ("tiny" if llm == "llama" else f"tiny-{llm}") + ("-hd" if hd else "")
    config = variant_config(name, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class_for(type(config))(config)
        _randomise_norms(model)
    return model.eval()


def _randomise_norms(model: MGMForCausalLM) -> None:
    """Perturb LayerNorm/RMSNorm/layer-scale weights so tests see non-trivial values everywhere."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 1 and ("norm" in name or name.endswith("gamma") or "layrnorm" in name):
                param.add_(0.1 * torch.randn_like(param))


def build_tiny_checkpoint(
    out_dir: str | Path, *, llm: str = "llama", hd: bool = False, seed: int = 0, num_shards: int = 3,
    **overrides: object,
) -> Path:
    """Write a complete tiny MGM checkpoint in the official layout and return its directory.

    Args:
        out_dir: target directory (created; existing files are overwritten).
        llm: "llama" (Vicuna-style), "gemma", "mixtral" or "mistral".
        hd: HD variant (image_grid 2, image_global, HR 256).
        seed: weight seed.
        num_shards: about how many safetensors shards to write (≥ 1).
        **overrides: config keys to override (e.g. ``mg_model.variants.TINY_HEAD_DIM_32`` for vLLM).

    Returns:
        ``Path(out_dir)``, loadable with ``MGMForCausalLM.from_pretrained`` and ``MGMProcessor.from_pretrained``.
    """
    return write_tiny_checkpoint(build_tiny_model(llm, hd=hd, seed=seed, **overrides), out_dir, num_shards=num_shards)


def write_tiny_checkpoint(model: MGMForCausalLM, out_dir: str | Path, num_shards: int = 3) -> Path:
    """Write a tiny MGM ``model`` (e.g. one whose encoders were pretrained) in the official layout.

    The layout is :func:`build_tiny_checkpoint`'s: shards + index, config, tokenizer files and both encoder
    folders under ``model_zoo/`` (holding ``model``'s current encoder weights).
    """
    out = Path(out_dir)
    total_bytes = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    save_mgm(model, out, max_shard_size=max(1, total_bytes // max(1, num_shards) + 1))
    config = json.loads((out / "config.json").read_text())
    config.pop("mm_vision_config", None)  # released files have no such key: the CLIP dir describes CLIP
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    _copy_tokenizer(out)
    state = model.state_dict()
    _write_clip_dir(out / model.config.mm_vision_tower, model, state)
    _write_open_clip_dir(out / model.config.mm_vision_tower_aux, model, state)
    return out


def _copy_tokenizer(out: Path) -> None:
    missing = [name for name in TOKENIZER_FILES if not (TOKENIZER_DIR / name).is_file()]
    if missing:
        raise FileNotFoundError(f"the packaged tiny tokenizer is incomplete: {missing} absent in {TOKENIZER_DIR}")
    for name in TOKENIZER_FILES:
        shutil.copy2(TOKENIZER_DIR / name, out / name)


def _write_clip_dir(clip_dir: Path, model: MGMForCausalLM, state: dict[str, torch.Tensor]) -> None:
    """An HF CLIP folder: CLIPModel-style config.json, preprocessor_config.json, ``vision_model.*`` weights."""
    clip_dir.mkdir(parents=True, exist_ok=True)
    vision = model.config.clip_vision_config_dict()
    config = {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": vision.get("projection_dim", 16),
        "vision_config": {**vision, "model_type": "clip_vision_model"},
        "text_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                        "num_attention_heads": 2, "vocab_size": 64, "max_position_embeddings": 16},
    }
    (clip_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    side = int(vision["image_size"])
    preprocessor = {
        "crop_size": {"height": side, "width": side}, "do_center_crop": True, "do_normalize": True,
        "do_resize": True, "do_rescale": True, "rescale_factor": 1 / 255, "resample": 3,
        "image_mean": OPENAI_MEAN, "image_std": OPENAI_STD, "size": {"shortest_edge": side},
        "image_processor_type": "CLIPImageProcessor",
    }
    (clip_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    tensors = {"vision_model." + k[len(CLIP_PREFIX) :]: v.clone() for k, v in state.items() if k.startswith(CLIP_PREFIX)}
    tensors["logit_scale"] = torch.tensor(4.6052)  # a CLIPModel key the loader must ignore
    save_file(tensors, str(clip_dir / "model.safetensors"), metadata={"format": "pt"})


def _write_open_clip_dir(hr_dir: Path, model: MGMForCausalLM, state: dict[str, torch.Tensor]) -> None:
    """An open_clip folder: open_clip_config.json and ``visual.trunk.*`` weights (+ head keys to ignore)."""
    hr_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "model_cfg": {
            "embed_dim": 16,
            "vision_cfg": {"timm_model_name": "convnext_large", "timm_model_pretrained": False, "timm_pool": "",
                           "timm_proj": "mlp", "timm_drop": 0.0, "timm_drop_path": 0.1,
                           "image_size": model.config.image_size_aux,
                           "mgm_tiny_dims": list(model.config.convnext_dims),
                           "mgm_tiny_depths": list(model.config.convnext_depths)},
        },
        "preprocess_cfg": {"mean": OPENAI_MEAN, "std": OPENAI_STD},
    }
    (hr_dir / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors = {}
    for name, value in state.items():
        if name.startswith(HR_PREFIX + "vision_stem."):
            tensors["visual.trunk.stem." + name[len(HR_PREFIX + "vision_stem.") :]] = value.clone()
        elif name.startswith(HR_PREFIX + "vision_stages."):
            tensors["visual.trunk.stages." + name[len(HR_PREFIX + "vision_stages.") :]] = value.clone()
    width = model.config.convnext_dims[-1]
    tensors["visual.trunk.head.norm.weight"] = torch.ones(width)  # dropped by MGM (no final norm)
    tensors["visual.head.mlp.fc1.weight"] = torch.zeros(4, width)  # CLIP projection head, dropped
    tensors["text.token_embedding.weight"] = torch.zeros(8, 4)  # text tower, dropped
    torch.save(tensors, hr_dir / "open_clip_pytorch_model.bin")
