"""Former home of the decode options, kept because the public API documents ``mg_model.fast_decode.DecodeOptions``
(docs/architecture.md#mg_model-public-api). The code lives in :mod:`mg_model.generation.fast_decode`."""

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
