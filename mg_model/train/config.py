"""The options of one training stage (:class:`TrainConfig`) and what :func:`~mg_model.train.trainer.train` returns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data import TrainingInputError, resolve_template_name
from .deepspeed_config import ds_config_path
from .stages import parse_lr_multi, resolve_stage


@dataclass
class TrainConfig:
    """Everything one training stage needs (CLI flags of ``mg-eval train`` map 1:1 onto these fields).

    Official values per model size come from :func:`mg_model.train.stages.official_defaults`.
    """

    model_path: str
    data_path: str
    output_dir: str
    image_folder: str | None = None
    stage: str = "finetune"
    template: str = "vicuna_v1"
    pretrain_adapter: str | None = None
    epochs: float = 1.0
    max_steps: int | None = None
    per_device_batch: int = 4
    grad_accum: int = 1
    lr: float = 2e-5
    lr_multi: str | None = None
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0
    max_length: int = 2048
    bf16: bool = False
    gradient_checkpointing: bool = False
    deepspeed: str | None = None
    save_steps: int = 0
    save_total_limit: int | None = 2
    seed: int = 0
    group_by_length: bool = True
    logging_steps: int = 10
    resume: bool = True
    progress: bool = True
    mining: bool = True
    cache_data: bool = False
    encoder_root: str | None = None
    init_adapter_seed: int | None = None  # re-initialise mm_projector + vlm_uni_* with this seed before training
    config_overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Check options before any expensive work (TrainingInputError names the option and the fix)."""
        self.stage = resolve_stage(self.stage)
        self.template = resolve_template_name(self.template)
        if not Path(self.model_path).is_dir():
            raise TrainingInputError(f"--model {self.model_path} is not a checkpoint directory")
        for name in ("per_device_batch", "grad_accum", "max_length"):
            if int(getattr(self, name)) < 1:
                raise TrainingInputError(f"{name}={getattr(self, name)} must be >= 1")
        if self.lr <= 0 or not 0 <= self.warmup_ratio < 1:
            raise TrainingInputError(f"lr={self.lr} must be > 0 and warmup_ratio={self.warmup_ratio} in [0, 1)")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainingInputError(f"max_steps={self.max_steps} must be >= 1")
        if self.max_steps is None and not self.epochs > 0:
            raise TrainingInputError(f"epochs={self.epochs} must be > 0 (or give max_steps)")
        if self.save_steps < 0:
            raise TrainingInputError(f"save_steps={self.save_steps} must be >= 0 (0: save only at the end)")
        try:  # an output folder that cannot be made fails now, not after the model is built
            Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrainingInputError(f"--output {self.output_dir} cannot be created ({err.strerror or err}); "
                                     "pass a folder you can write to") from None
        parse_lr_multi(self.lr_multi)
        if self.deepspeed is not None:
            ds_config_path(self.deepspeed)


#: TrainConfig fields that do not change the trained weights: left out of the run's identity (:func:`config_hash`)
NOT_IN_RUN_IDENTITY = ("resume", "progress", "logging_steps", "save_steps", "save_total_limit", "cache_data",
                       "output_dir")


def config_hash(config: Mapping[str, Any]) -> str:
    """The identity of a training run: ``sha256:<16 hex>`` of its :class:`TrainConfig` fields (as
    ``dataclasses.asdict`` gives them) that change the trained weights (:data:`NOT_IN_RUN_IDENTITY` left out).

    Written into every ``trainer_state.json`` as ``config_hash``; evaluation records it beside each checkpoint's
    step, so the points of one training run are told apart from another run's with the same folder names.
    """
    kept = {key: value for key, value in sorted(config.items()) if key not in NOT_IN_RUN_IDENTITY}
    text = json.dumps(kept, sort_keys=True, default=str, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    """What :func:`train` returns: the output directory, steps run, the per-step losses, the trained model."""

    output_dir: Path
    global_step: int
    losses: list[float]
    resumed_from: int | None
    backend: str
    seconds: float
    model: Any = None
    already_finished: bool = False  # output_dir held this run's finished model: nothing was trained or written
