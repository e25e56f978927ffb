"""Save an MGM model in the official layout: ``config.json``, 5 GB safetensors shards + index, generation config.

Both encoders are written into the shards, so a saved folder reloads without its ``model_zoo`` folders;
a tied Gemma head is not duplicated; Mixtral's fused experts are split back into the official per-expert
keys (:func:`mg_model.checkpoint.tensors.internal_to_official`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import PretrainedConfig

from ..configuration_mgm import CLIP_L_336_VISION_CONFIG, MGM_DEFAULTS
from .tensors import INDEX_FILES, internal_to_official

ARCHITECTURE_OF_TYPE = {
    "mgm": "MGMLlamaForCausalLM",
    "mgm_gemma": "MGMGemmaForCausalLM",
    "mgm_mixtral": "MGMMixtralForCausalLM",
    "mgm_mistral": "MGMMistralForCausalLM",
}


def save_mgm(model: Any, save_directory: str | os.PathLike, max_shard_size: int = 5 * 1024**3) -> Path:
    """Write ``config.json``, ``model-XXXXX-of-XXXXX.safetensors`` shards and the index (official keys).

    The CLIP hyper-parameters are written as ``mm_vision_config`` when they are not CLIP-L/336, so the
    saved folder loads without its encoder directories (both encoders are stored in the shards).
    """
    out = Path(save_directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    if model.lm_head.weight is model.model.embed_tokens.weight:
        state.pop("lm_head.weight", None)
    state = internal_to_official(state, model.config.llm_type)
    shards = _split_shards(state, max_shard_size)
    weight_map, total = {}, 0
    for number, shard in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
        total += sum(tensor.numel() * tensor.element_size() for tensor in shard.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (out / INDEX_FILES[0]).write_text(json.dumps(index, indent=2) + "\n")
    _write_config(model, out)
    model.generation_config.save_pretrained(str(out))
    return out


def parse_size(size: int | str) -> int:
    """Bytes of ``5000000`` / ``"5GB"`` / ``"500MB"`` / ``"10KB"`` (decimal units, as transformers)."""
    if isinstance(size, int):
        return size
    text = str(size).strip().upper()
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("B", 1)):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def _split_shards(state: dict[str, torch.Tensor], max_shard_size: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    return shards


def _write_config(model: Any, out: Path) -> None:
    """config.json in the official flat form; implementation-only keys are written only when not default."""
    config = model.config
    values = config.to_dict()
    generic_defaults = PretrainedConfig().to_dict()
    for key in ("id2label", "label2id", "chunk_size_feed_forward", "is_encoder_decoder", "output_attentions",
                "output_hidden_states", "problem_type", "return_dict"):
        if key in values and values[key] == generic_defaults.get(key):
            del values[key]  # transformers-internal defaults, absent from released files
    values.pop("_name_or_path", None)
    values.pop("dtype", None)
    values["architectures"] = [ARCHITECTURE_OF_TYPE.get(config.model_type, "MGMLlamaForCausalLM")]
    values["torch_dtype"] = str(model.dtype).replace("torch.", "")
    clip = config.clip_vision_config_dict()
    if all(clip.get(key) == value for key, value in CLIP_L_336_VISION_CONFIG.items()):
        values["mm_vision_config"] = None
    for key in ("llm_model_type", "mm_vision_config", "hr_convnext_dims", "hr_convnext_depths",
                "hr_drop_path_rate", "hr_drop_path_at_inference"):
        if values.get(key) == MGM_DEFAULTS[key]:
            values.pop(key, None)
    (out / "config.json").write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
