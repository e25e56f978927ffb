"""Mini-Gemini (MGM) model: official checkpoints, official numerics, batched generation.

Public API (see docs/model.md)::

    from mg_model import MGMForCausalLM, MGMProcessor, build_tiny_checkpoint

Importing this package changes no global state; AutoConfig/AutoModelForCausalLM registration of the MGM
model types happens in :func:`register_mgm`, which ``MGMForCausalLM.from_pretrained`` calls.
"""

from __future__ import annotations

from typing import Any

from .configuration_mgm import MGMConfig
from .constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from .errors import CheckpointError, MGMConfigError, MGMError, MGMInputError, TrainingInputError
from .modeling_mgm import MGMForCausalLM, register_mgm
from .tiny import build_tiny_checkpoint, build_tiny_model
from .variants import variant_config, variant_names

_PROCESSING_EXPORTS = ("MGMProcessor", "MGMImageProcessor")

__all__ = [
    "DEFAULT_IMAGE_TOKEN",
    "IGNORE_INDEX",
    "IMAGE_TOKEN_INDEX",
    "CheckpointError",
    "MGMConfig",
    "MGMConfigError",
    "MGMError",
    "MGMInputError",
    "TrainingInputError",
    "MGMForCausalLM",
    "build_tiny_checkpoint",
    "build_tiny_model",
    "register_mgm",
    "variant_config",
    "variant_names",
    *_PROCESSING_EXPORTS,
]


def __getattr__(name: str) -> Any:
    """Import the processing classes on first use (they live in ``processing_mgm``)."""
    if name in _PROCESSING_EXPORTS:
        from . import processing_mgm

        return getattr(processing_mgm, name)
    raise AttributeError(f"module 'mg_model' has no attribute {name!r}")
