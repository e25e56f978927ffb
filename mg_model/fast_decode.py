"""Former home of the decode options, kept because earlier releases documented ``mg_model.fast_decode.DecodeOptions``
as public API (docs/architecture.md, "Fast decoding and the GPU suite").
The code lives in :mod:`mg_model.generation.fast_decode`."""

from __future__ import annotations

from .generation.fast_decode import (
    ATTENTION_CHOICES,
    CACHE_CHOICES,
    OFFICIAL_LLM_ATTENTION,
    DecodeOptions,
    apply_decode_options,
    generate_kwargs,
)

__all__ = [
    "ATTENTION_CHOICES",
    "CACHE_CHOICES",
    "OFFICIAL_LLM_ATTENTION",
    "DecodeOptions",
    "apply_decode_options",
    "generate_kwargs",
]
