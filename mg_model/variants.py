"""Named MGM configurations: the released checkpoints (docs/official_code.md#released-checkpoints) and tiny ones for tests.

``variant_config("mgm-7b-hd")`` returns the :class:`MGMConfig` a released ``config.json`` describes
(LLM sizes from the base models' public configs; MGM keys of docs/official_code.md#config-keys). ``variant_config("tiny")``
(also ``tiny-hd``, ``tiny-gemma``, ``tiny-mixtral``, ``tiny-mistral`` and their ``-hd`` forms) gives a
model whose forward takes milliseconds: CLIP 2 layers width 32 patch 14 at LR 56 (16 tokens), ConvNeXt
dims (8, 16, 32, 64) depths (1, 1, 1, 1) at HR 128 (32×32 map, 8×8 candidates), LLM 2 layers hidden 64.
"""

from __future__ import annotations

from typing import Any

from .configuration_mgm import MGMConfig, config_from_dict
from .errors import MGMConfigError

_VICUNA_7B = {
    "model_type": "mgm", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
    "rope_theta": 10000.0, "tie_word_embeddings": False, "hidden_act": "silu",
}
_VICUNA_13B = {**_VICUNA_7B, "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
               "num_attention_heads": 40, "num_key_value_heads": 40}
_LLAMA3_8B = {
    "model_type": "mgm", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 8192, "bos_token_id": 128000, "eos_token_id": 128009, "rope_theta": 500000.0,
    "tie_word_embeddings": False, "hidden_act": "silu",
}
_YI_34B = {
    "model_type": "mgm", "vocab_size": 64000, "hidden_size": 7168, "intermediate_size": 20480,
    "num_hidden_layers": 60, "num_attention_heads": 56, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 4096, "bos_token_id": 1, "eos_token_id": 7, "pad_token_id": 0,
    "rope_theta": 5000000.0, "tie_word_embeddings": False, "hidden_act": "silu",
}
_GEMMA_2B = {
    "model_type": "mgm_gemma", "vocab_size": 256000, "hidden_size": 2048, "intermediate_size": 16384,
    "num_hidden_layers": 18, "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256,
    "rms_norm_eps": 1e-6, "max_position_embeddings": 8192, "bos_token_id": 2, "eos_token_id": 1,
    "pad_token_id": 0, "rope_theta": 10000.0, "tie_word_embeddings": True, "hidden_act": "gelu_pytorch_tanh",
}
_MIXTRAL_8X7B = {
    "model_type": "mgm_mixtral", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-5,
    "max_position_embeddings": 32768, "bos_token_id": 1, "eos_token_id": 2, "rope_theta": 1000000.0,
    "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": False, "hidden_act": "silu",
}
_HD = {"image_grid": 2, "image_global": True, "image_size_aux": 1536, "tokenizer_model_max_length": 4096}

RELEASED_LLMS: dict[str, dict[str, Any]] = {
    "mgm-2b": _GEMMA_2B,
    "mgm-7b": _VICUNA_7B,
    "mgm-13b": _VICUNA_13B,
    "mgm-8b": _LLAMA3_8B,
    "mgm-8x7b": _MIXTRAL_8X7B,
    "mgm-34b": _YI_34B,
}

TINY_VISION: dict[str, Any] = {
    "mm_vision_config": {
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "image_size": 56, "patch_size": 14, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
        "projection_dim": 16,
    },
    "mm_hidden_size": 32,
    "hr_convnext_dims": [8, 16, 32, 64],
    "hr_convnext_depths": [1, 1, 1, 1],
    "mm_hidden_size_aux": 120,
    "image_size_aux": 128,
}
TINY_HD = {"image_grid": 2, "image_global": True, "image_size_aux": 256, "tokenizer_model_max_length": 4096}
_TINY_LLM_BASE = {
    "vocab_size": 808, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
    "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "tie_word_embeddings": False,
}
TINY_LLMS: dict[str, dict[str, Any]] = {
    "llama": {**_TINY_LLM_BASE, "model_type": "mgm", "hidden_act": "silu"},
    "gemma": {**_TINY_LLM_BASE, "model_type": "mgm_gemma", "head_dim": 16, "hidden_act": "gelu_pytorch_tanh",
              "tie_word_embeddings": True},
    "mixtral": {**_TINY_LLM_BASE, "model_type": "mgm_mixtral", "hidden_act": "silu", "num_local_experts": 4,
                "num_experts_per_tok": 2, "intermediate_size": 64},
    "mistral": {**_TINY_LLM_BASE, "model_type": "mgm_mistral", "hidden_act": "silu"},
}


def variant_names() -> list[str]:
    """All names :func:`variant_config` accepts."""
    released = [name + suffix for name in RELEASED_LLMS for suffix in ("", "-hd") if name + suffix != "mgm-2b-hd"]
    tiny = [("tiny" if llm == "llama" else f"tiny-{llm}") + suffix for llm in TINY_LLMS for suffix in ("", "-hd")]
    return released + tiny


def variant_values(name: str) -> dict[str, Any]:
    """The flat config.json values of a named variant (see :func:`variant_names`)."""
    hd = name.endswith("-hd")
    base = name[: -len("-hd")] if hd else name
    if base in RELEASED_LLMS and name != "mgm-2b-hd":
        return {**RELEASED_LLMS[base], **(_HD if hd else {})}
    if base == "tiny" or (base.startswith("tiny-") and base[len("tiny-") :] in TINY_LLMS):
        llm = "llama" if base == "tiny" else base[len("tiny-") :]
        return {**TINY_LLMS[llm], **TINY_VISION, **(TINY_HD if hd else {})}
    raise MGMConfigError(f"unknown MGM variant {name!r}; known: {', '.join(variant_names())}")


def variant_config(name: str, **overrides: Any) -> MGMConfig:
    """The :class:`MGMConfig` of a named variant, with keyword overrides (validated)."""
    return config_from_dict({**variant_values(name), **overrides})
