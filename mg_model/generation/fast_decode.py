"""Decode options that keep the official numerics by default (issue 14).

* **LLM attention** (``attn``): ``eager`` by default = what the official code ran. MGM pins
  transformers 4.36.2 with torch 2.0.1 (docs/official_code.md#versions); transformers >= 4.36 uses SDPA only when
  ``is_torch_sdpa_available()``, i.e. torch >= 2.1.1, and the MGM builder passes no
  ``attn_implementation`` unless ``use_flash_attn`` (never set by the eval scripts), so every LLM family
  (LLaMA/Vicuna, Gemma, Mixtral, Mistral, Yi) ran eager attention. ``sdpa`` is the opt-in fast kernel
  (flash / memory-efficient on GPU: no [B, heads, T, T] score tensor); it changes rounding, so it can
  flip rare greedy near-ties. The CLIP tower stays eager either way (``mg_model.vision``).
* **Static KV cache + torch.compile** (``compile``): transformers' ``cache_implementation="static"``
  with a ``CompileConfig``: the decode step runs as a compiled graph (CUDA graphs with
  ``reduce-overhead`` on GPU). Off by default. ``cache="static"`` without ``compile`` is the static
  cache alone (what the CPU test can afford).
* **Logits of the last position only** during prefill are always on and exact: ``MGMForCausalLM.forward``
  takes ``logits_to_keep`` and transformers' ``generate`` passes ``logits_to_keep=1`` to models that
  accept it, so no [B, T, vocab] fp32 tensor is built (the official forward built it for every position).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The LLM attention of the official pin (transformers 4.36.2 + torch 2.0.1): eager for every family.
OFFICIAL_LLM_ATTENTION = "eager"
ATTENTION_CHOICES = ("eager", "sdpa")
CACHE_CHOICES = ("dynamic", "static")


@dataclass(frozen=True)
class DecodeOptions:
    """How the LLM decodes; the defaults are the official numerics (recorded in fingerprints and results)."""

    attn: str = OFFICIAL_LLM_ATTENTION
    cache: str = "dynamic"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.attn not in ATTENTION_CHOICES:
            raise ValueError(f"attn={self.attn!r}: use one of {', '.join(ATTENTION_CHOICES)}")
        if self.cache not in CACHE_CHOICES:
            raise ValueError(f"cache={self.cache!r}: use one of {', '.join(CACHE_CHOICES)}")
        if self.compile and self.cache != "static":
            object.__setattr__(self, "cache", "static")  # compiling the decode step needs the static cache

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> DecodeOptions:
        """From ``{"attn": ..., "cache": ..., "compile": ...}`` (missing keys: defaults)."""
        return cls(**dict(values or {}))

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for fingerprints and results.json."""
        return asdict(self)

    @property
    def is_official(self) -> bool:
        """True when nothing differs from the official decoding."""
        return self == DecodeOptions()


def set_llm_attention(model: Any, attn: str) -> None:
    """Switch the language model's attention kernel (``eager`` | ``sdpa``); the vision towers are untouched."""
    if attn not in ATTENTION_CHOICES:
        raise ValueError(f"attn={attn!r}: use one of {', '.join(ATTENTION_CHOICES)}")
    model.model.config._attn_implementation = attn


def llm_attention(model: Any) -> str:
    """The language model's current attention kernel."""
    return str(model.model.config._attn_implementation)


def apply_decode_options(model: Any, options: DecodeOptions) -> None:
    """Apply the model-side part of ``options`` (the attention kernel)."""
    set_llm_attention(model, options.attn)


def generate_kwargs(options: DecodeOptions, device_type: str) -> dict[str, Any]:
    """Extra ``generate`` kwargs for ``options`` on ``device_type`` ("cuda", "cpu", ...); {} by default."""
    if options.cache == "dynamic":
        return {}
    from transformers import CompileConfig

    kwargs: dict[str, Any] = {"cache_implementation": "static"}
    if not options.compile:
        kwargs["disable_compile"] = True  # transformers would auto-compile a static cache on GPU
        return kwargs
    config = CompileConfig(fullgraph=False, mode="reduce-overhead" if device_type == "cuda" else "default")
    if device_type != "cuda":
        config._compile_all_devices = True
    kwargs["compile_config"] = config
    return kwargs
