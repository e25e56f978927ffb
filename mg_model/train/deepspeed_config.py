"""DeepSpeed configuration: the official ZeRO presets shipped in ``ds_configs/`` and their ``"auto"`` values filled."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import TrainingInputError

DS_CONFIG_DIR = Path(__file__).resolve().parent / "ds_configs"
DS_PRESETS = ("zero2", "zero2_offload", "zero3")


def ds_config_path(name_or_path: str) -> Path:
    """``zero2`` / ``zero2_offload`` / ``zero3`` -> the shipped JSON; anything else must be a JSON file."""
    if name_or_path in DS_PRESETS:
        return DS_CONFIG_DIR / f"{name_or_path}.json"
    path = Path(name_or_path)
    if not path.is_file():
        raise TrainingInputError(f"--deepspeed {name_or_path!r}: not one of {list(DS_PRESETS)} and not a JSON file")
    return path


def fill_ds_config(raw: dict[str, Any], cfg: Any, world_size: int, hidden_size: int) -> dict[str, Any]:
    """Replace the official configs' ``"auto"`` values the way the HF Trainer integration does.

    ``cfg`` is the run's :class:`~mg_model.train.config.TrainConfig`.

    Batch sizes from this config; ``bf16.enabled`` = ``cfg.bf16``; ``fp16`` off; bucket sizes from the LLM
    hidden size (``reduce_bucket_size = H²``, ``stage3_prefetch_bucket_size = 0.9 H²``,
    ``stage3_param_persistence_threshold = 10 H``). Any ``"auto"`` left unfilled is an error.
    """
    config = copy.deepcopy(raw)
    fills = {
        ("train_micro_batch_size_per_gpu",): cfg.per_device_batch,
        ("gradient_accumulation_steps",): cfg.grad_accum,
        ("train_batch_size",): cfg.per_device_batch * cfg.grad_accum * world_size,
        ("bf16", "enabled"): bool(cfg.bf16),
        ("fp16", "enabled"): False,
        ("gradient_clipping",): cfg.max_grad_norm,
        ("zero_optimization", "reduce_bucket_size"): hidden_size * hidden_size,
        ("zero_optimization", "stage3_prefetch_bucket_size"): int(0.9 * hidden_size * hidden_size),
        ("zero_optimization", "stage3_param_persistence_threshold"): 10 * hidden_size,
    }
    for keys, value in fills.items():
        node = config
        for key in keys[:-1]:
            node = node.get(key, {})
        if node.get(keys[-1]) == "auto":
            node[keys[-1]] = value
    leftover = [path for path, value in _walk(config) if value == "auto"]
    if leftover:
        raise TrainingInputError(f"DeepSpeed config has 'auto' values this trainer cannot fill: {leftover}")
    offload = config.get("zero_optimization", {}).get("offload_optimizer", {})
    if offload.get("device") == "cpu":
        # The official offload runs use DeepSpeedCPUAdam (built on the fly); a torch AdamW is allowed too.
        config.setdefault("zero_force_ds_cpu_optimizer", False)
    return config


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, node
