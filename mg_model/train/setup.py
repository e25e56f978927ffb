"""The pieces a training run is built from: the model (stage-configured), the dataset, the optimiser + schedule."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from .config import TrainConfig
from .data import SupervisedDataset, TrainingInputError, load_records
from .stages import (
    configure_trainable,
    disable_mining,
    load_adapter,
    parameter_groups,
    parse_lr_multi,
    reinit_adapter,
)

_IMAGE_PROCESSOR_KEYS = ("image_size_aux", "image_grid", "image_global", "image_aspect_ratio")


def load_model(cfg: TrainConfig) -> torch.nn.Module:
    """The MGM model of ``cfg.model_path`` in fp32, with ``cfg.config_overrides`` applied, stage-configured."""
    from mg_model.modeling_mgm import MGMForCausalLM

    model = MGMForCausalLM.from_pretrained(cfg.model_path, torch_dtype=torch.float32, encoder_root=cfg.encoder_root,
                                           **cfg.config_overrides)
    if cfg.pretrain_adapter:
        load_adapter(model, cfg.pretrain_adapter)
    if cfg.init_adapter_seed is not None:
        reinit_adapter(model, cfg.init_adapter_seed)
    configure_trainable(model, cfg.stage)
    if not cfg.mining:
        disable_mining(model)
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    return model


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Activation checkpointing of the LLM layers (non-reentrant, so frozen inputs need no grad hook)."""
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise TrainingInputError(f"{type(model).__name__} does not support gradient checkpointing")
    options = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers' new name (the old one now warns)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)


def cosine_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the base LR over ``warmup_steps``, then cosine decay to 0 at ``total`` (HF cosine)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return float(step + 1) / float(max(1, warmup_steps))
        progress = (step - warmup_steps) / float(max(1, total - warmup_steps))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, total: int) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over the trainable parameter groups + the cosine schedule (warm-up = ceil(ratio x total))."""
    groups = parameter_groups(model, cfg.lr, cfg.weight_decay, parse_lr_multi(cfg.lr_multi))
    optimizer = torch.optim.AdamW([{k: v for k, v in g.items() if k != "names"} for g in groups], lr=cfg.lr,
                                  betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)
    return optimizer, cosine_schedule(optimizer, math.ceil(cfg.warmup_ratio * total), total)


def build_dataset(cfg: TrainConfig) -> tuple[SupervisedDataset, Any]:
    """Validated dataset (every image checked up front) and the checkpoint's tokenizer."""
    from mg_model.processing_mgm import MGMProcessor

    records = load_records(cfg.data_path, cfg.image_folder)
    processor = MGMProcessor.from_pretrained(cfg.model_path, encoder_root=cfg.encoder_root)
    image_keys = {k: v for k, v in cfg.config_overrides.items() if k in _IMAGE_PROCESSOR_KEYS}
    if image_keys:
        processor.image_processor = dataclasses.replace(processor.image_processor, **image_keys)
    tokenizer = processor.tokenizer
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.unk_token  # official: Vicuna/Mixtral/Yi pad with unk
    dataset = SupervisedDataset(records, processor.tokenize_prompt, tokenizer.bos_token_id, cfg.template,
                                processor_image_fn(processor), cfg.image_folder, cache=cfg.cache_data)
    return dataset, tokenizer


def processor_image_fn(processor: Any) -> Any:
    """``pil -> (images, images_aux)`` for one image, from the checkpoint's MGMImageProcessor (docs/official_code.md#image-preprocessing)."""
    image_processor = processor.image_processor

    def encode(image: Any) -> tuple[torch.Tensor, torch.Tensor]:
        out = image_processor([image])
        return out["images"][0], out["images_aux"][0]

    return encode
