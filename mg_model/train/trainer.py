"""The training loop: DeepSpeed ZeRO engine when asked for, plain torch (DDP over gloo/nccl) otherwise.

One function, :func:`train`, runs one stage (docs/official_code.md#training-stages) from a :class:`TrainConfig`:

1. model from an MGM checkpoint directory (``MGMForCausalLM.from_pretrained``; official layout), optional
   stage-1 adapter (``mm_projector.bin``) for stage 2, trainable parameters per stage, gradient
   checkpointing;
2. data: LLaVA/MGM JSON + image folder, labels masked per template, length-grouped batches per rank;
3. AdamW with an LR multiplier group for ``mm_projector`` / ``vlm_uni`` (``lr_multi``), cosine schedule with
   linear warm-up (``warmup_ratio``), gradient accumulation;
4. backend: ``deepspeed="zero2" | "zero2_offload" | "zero3" | <path.json>`` builds a DeepSpeed engine from
   the official config files in ``mg_model/train/ds_configs`` ("auto" values filled from this config);
   ``deepspeed=None`` trains with torch (DistributedDataParallel when launched by ``torchrun`` with more
   than one process; gloo on CPU, nccl on GPU);
5. checkpoints ``<output_dir>/checkpoint-<step>/`` every ``save_steps`` in the official layout
   (``save_pretrained``) plus ``trainer_state.json`` and the optimizer / scheduler / sampler / RNG state;
   a rerun of the same command resumes from the newest complete checkpoint. The final model is saved to
   ``output_dir`` with ``mm_projector.bin`` (the stage-1 artefact).

Launch across processes/nodes with ``torchrun --nproc_per_node N [--nnodes M ...] -m mg_eval.cli.main train ...``
or ``deepspeed --num_gpus N --module mg_eval.cli.main train ...`` (both set RANK / WORLD_SIZE / LOCAL_RANK).

This module holds the loop, the backends and the checkpoints; the options are in :mod:`.config`, the
model / dataset / optimiser in :mod:`.setup`, the process group in :mod:`.distributed` and the DeepSpeed
presets in :mod:`.deepspeed_config` (their names stay importable from here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig, TrainResult, config_hash
from .data import ResumableBatchSampler as BatchSampler
from .data import SupervisedDataset, TrainingInputError, collate, modality_lengths, total_steps
from .deepspeed_config import DS_CONFIG_DIR, DS_PRESETS, ds_config_path, fill_ds_config
from .distributed import DistInfo, barrier, device_for, dist_info_from_env, init_process_group
from .setup import (
    build_dataset,
    build_optimizer,
    cosine_schedule,
    enable_gradient_checkpointing,
    load_model,
    processor_image_fn,
)
from .stages import save_adapter, set_train_mode

__all__ = [  # the loop and its checkpoints, plus the names this module held before the split
    "CHECKPOINT_PREFIX", "DS_CONFIG_DIR", "DS_PRESETS", "STATE_FILE", "TORCH_STATE_FILE", "Backend",
    "DeepSpeedBackend", "DistInfo", "LoopState", "TrainConfig", "TrainResult", "build_dataset", "build_optimizer",
    "copy_side_files", "cosine_schedule", "dist_info_from_env", "ds_config_path", "enable_gradient_checkpointing",
    "fill_ds_config", "find_last_checkpoint", "init_process_group", "load_model", "processor_image_fn",
    "save_checkpoint", "train",
]

STATE_FILE = "trainer_state.json"
TORCH_STATE_FILE = "training_state.pt"
CHECKPOINT_PREFIX = "checkpoint-"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json")
ENCODER_KEYS = ("mm_vision_tower", "mm_vision_tower_aux")


# ---------------------------------------------------------------------------------------------------------
# Checkpoints


def find_last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoint-<step>`` (one with ``trainer_state.json``), or None."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    done = [p for p in root.glob(f"{CHECKPOINT_PREFIX}*") if (p / STATE_FILE).is_file()
            and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
    return max(done, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]), default=None)


def _prune_checkpoints(output_dir: Path, keep: int | None) -> None:
    if not keep:
        return
    done = sorted((p for p in output_dir.glob(f"{CHECKPOINT_PREFIX}*") if (p / STATE_FILE).is_file()),
                  key=lambda p: int(p.name[len(CHECKPOINT_PREFIX):]))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class LoopState:
    """Mutable loop state saved with every checkpoint."""

    global_step: int = 0
    losses: list[float] = field(default_factory=list)


class Backend:
    """What differs between DeepSpeed and torch: forward/backward/step, state, and the model to save."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                 cfg: TrainConfig, info: DistInfo) -> None:
        self.cfg, self.info = cfg, info
        self.module = model
        self.optimizer, self.scheduler = optimizer, scheduler
        self.wrapped: torch.nn.Module = model
        if info.world_size > 1:
            self.wrapped = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Forward one micro-batch; returns the scalar loss."""
        context = (torch.autocast(device_type=batch["input_ids"].device.type, dtype=torch.bfloat16)
                   if self.cfg.bf16 else contextlib.nullcontext())
        with context:
            return self.wrapped(**batch).loss

    def backward(self, loss: torch.Tensor, micro_step: int) -> None:
        """Accumulate gradients (DDP syncs only on the last micro-step)."""
        last = (micro_step + 1) % self.cfg.grad_accum == 0
        sync = self.wrapped.no_sync() if (self.info.world_size > 1 and not last) else contextlib.nullcontext()
        with sync:
            (loss / self.cfg.grad_accum).backward()

    def step(self) -> None:
        """Clip, optimizer step, scheduler step, zero grads."""
        if self.cfg.max_grad_norm and self.cfg.max_grad_norm > 0:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def save_state(self, directory: Path, extra: dict[str, Any]) -> None:
        """Optimizer + scheduler + loop extras into ``directory/training_state.pt`` (rank 0)."""
        if self.info.is_main:
            torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                        **extra}, directory / TORCH_STATE_FILE)

    def load_state(self, directory: Path) -> dict[str, Any]:
        """Restore what :meth:`save_state` wrote; returns the extras."""
        state = torch.load(directory / TORCH_STATE_FILE, map_location="cpu", weights_only=True)  # tensors + plain data
        self.optimizer.load_state_dict(state.pop("optimizer"))
        self.scheduler.load_state_dict(state.pop("scheduler"))
        return state

    @contextlib.contextmanager
    def full_weights(self) -> Iterator[None]:
        """Context in which ``self.module`` holds full (gathered) weights."""
        yield


class DeepSpeedBackend(Backend):
    """A DeepSpeed engine (ZeRO-2 / ZeRO-2-offload / ZeRO-3) around the model and client optimizer."""

    name = "deepspeed"

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                 cfg: TrainConfig, info: DistInfo) -> None:
        import deepspeed

        self.cfg, self.info = cfg, info
        raw = json.loads(ds_config_path(cfg.deepspeed or "").read_text())
        hidden = int(getattr(model.config, "hidden_size", 0) or 1024)
        self.ds_config = fill_ds_config(raw, cfg, info.world_size, hidden)
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=self.ds_config)
        self.module = self.engine.module
        self.wrapped = self.engine
        self.zero_stage = int(self.ds_config.get("zero_optimization", {}).get("stage", 0))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Forward through the engine (it casts to bf16 when enabled)."""
        if self.cfg.bf16:
            batch = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in batch.items()}
        return self.engine(**batch).loss

    def backward(self, loss: torch.Tensor, micro_step: int) -> None:
        """The engine scales by accumulation and syncs at the boundary itself."""
        self.engine.backward(loss)

    def step(self) -> None:
        """``engine.step()`` at every micro-step (it only updates at the accumulation boundary)."""
        self.engine.step()

    def micro_step(self) -> None:
        """Called after each non-final micro-batch: the engine counts micro-steps itself."""
        self.engine.step()

    def save_state(self, directory: Path, extra: dict[str, Any]) -> None:
        """DeepSpeed's own sharded checkpoint (optimizer partitions, scheduler) + the loop extras."""
        self.engine.save_checkpoint(str(directory / "deepspeed"), tag="state", client_state=extra)

    def load_state(self, directory: Path) -> dict[str, Any]:
        """Restore the engine from ``directory/deepspeed`` (weights, optimizer, scheduler)."""
        _, client_state = self.engine.load_checkpoint(str(directory / "deepspeed"), tag="state")
        if client_state is None:
            raise TrainingInputError(f"{directory}/deepspeed has no DeepSpeed state; delete this checkpoint")
        return client_state

    @contextlib.contextmanager
    def full_weights(self) -> Iterator[None]:
        """ZeRO-3 partitions the weights: gather them on every rank while saving."""
        if self.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None):
                yield
        else:
            yield


# ---------------------------------------------------------------------------------------------------------
# The loop


def _batches(sampler: BatchSampler, dataset: SupervisedDataset, pad_id: int, max_length: int,
             device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    for indices in sampler:
        batch = collate([dataset[i] for i in indices], pad_id, max_length)
        yield {key: value.to(device) for key, value in batch.items()}


def _save_model(backend: Backend, directory: Path, info: DistInfo) -> None:
    """Official layout: config + shards (``save_pretrained``), ``mm_projector.bin``, tokenizer files, and
    the (frozen, unchanged) encoder folders the config's relative ``model_zoo/...`` paths point to."""
    with backend.full_weights():
        if info.is_main:
            backend.module.save_pretrained(str(directory))
            save_adapter(backend.module, directory)
    if info.is_main:
        copy_side_files(Path(backend.cfg.model_path), directory, backend.module.config)


def copy_side_files(source: Path, target: Path, config: Any) -> None:
    """Copy tokenizer files and relative encoder folders from the source checkpoint into ``target``."""
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    for key in ENCODER_KEYS:
        relative = getattr(config, key, None)
        if not relative or Path(relative).is_absolute():
            continue
        src, dst = source / relative, target / relative
        if src.is_dir() and not dst.exists():
            shutil.copytree(src, dst)


def save_checkpoint(backend: Backend, sampler: BatchSampler, state: LoopState, cfg: TrainConfig,
                    info: DistInfo) -> Path:
    """Write ``checkpoint-<step>``: model (official layout), adapter, optimizer/scheduler/sampler/RNG, state.

    The directory is complete only once ``trainer_state.json`` exists (written last), so a crash mid-save
    never leaves a checkpoint that resume would pick.
    """
    directory = Path(cfg.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}"
    if info.is_main:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    barrier(info)
    _save_model(backend, directory, info)
    backend.save_state(directory, {"sampler": sampler.state_dict(), "rng": torch.get_rng_state(),
                                   "global_step": state.global_step})
    barrier(info)
    if info.is_main:
        (directory / STATE_FILE).write_text(json.dumps(state_record(state, backend.name, cfg), indent=1))
        _prune_checkpoints(Path(cfg.output_dir), cfg.save_total_limit)
    barrier(info)
    return directory


def state_record(state: LoopState, backend_name: str, cfg: TrainConfig) -> dict[str, Any]:
    """What ``trainer_state.json`` holds (a checkpoint's, or the final model's): step, losses, backend, the
    config and its :func:`~mg_model.train.config.config_hash` (the run's identity for evaluation records)."""
    config = dataclasses.asdict(cfg)
    return {"global_step": state.global_step, "losses": state.losses, "backend": backend_name, "config": config,
            "config_hash": config_hash(config)}


def _restore(backend: Backend, sampler: BatchSampler, checkpoint: Path) -> LoopState:
    extras = backend.load_state(checkpoint)
    sampler.load_state_dict(extras["sampler"])
    torch.set_rng_state(extras["rng"])
    saved = json.loads((checkpoint / STATE_FILE).read_text())
    return LoopState(global_step=int(saved["global_step"]), losses=list(saved["losses"]))


def train(cfg: TrainConfig) -> TrainResult:
    """Run one training stage per ``cfg`` (see the module docstring); resumable, returns the losses."""
    cfg.validate()
    finished = finished_run(cfg)
    if finished is not None:
        return finished
    info = dist_info_from_env()
    started = time.perf_counter()
    checkpoint = find_last_checkpoint(cfg.output_dir) if cfg.resume else None
    init_process_group(info, use_deepspeed=cfg.deepspeed is not None)
    torch.manual_seed(cfg.seed)
    dataset, tokenizer = build_dataset(cfg)
    source = (dataclasses.replace(cfg, model_path=str(checkpoint), pretrain_adapter=None, init_adapter_seed=None)
              if checkpoint else cfg)
    model = load_model(source).to(device_for(info))
    sampler = BatchSampler(modality_lengths(dataset.records), cfg.per_device_batch, info.world_size, info.rank,
                           cfg.seed, cfg.group_by_length)
    total = cfg.max_steps or total_steps(len(dataset), cfg.per_device_batch, info.world_size, cfg.grad_accum,
                                         cfg.epochs)
    optimizer, scheduler = build_optimizer(model, cfg, total)
    backend_class = DeepSpeedBackend if cfg.deepspeed else Backend
    backend = backend_class(model, optimizer, scheduler, cfg, info)
    state = _restore(backend, sampler, checkpoint) if checkpoint else LoopState()
    _run_steps(backend, sampler, dataset, tokenizer, state, cfg, info, total)
    out = Path(cfg.output_dir)
    _save_model(backend, out, info)
    if info.is_main:
        (out / STATE_FILE).write_text(json.dumps(state_record(state, backend.name, cfg), indent=1))
    barrier(info)
    return TrainResult(out, state.global_step, state.losses, int(checkpoint.name.split("-")[-1]) if checkpoint
                       else None, backend.name, time.perf_counter() - started, backend.module)


def finished_run(cfg: TrainConfig) -> TrainResult | None:
    """The finished model already in ``cfg.output_dir`` (its final ``trainer_state.json``), or ``None``.

    A rerun of the same finished command trains nothing and writes nothing. A finished model is never
    overwritten: another config, or ``resume=False``, raises ``TrainingInputError`` naming the differences.
    """
    state_file = Path(cfg.output_dir) / STATE_FILE
    if not state_file.is_file():
        return None
    try:
        saved = json.loads(state_file.read_text())
        saved_config = dict(saved["config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingInputError(f"{state_file}: unreadable final training state ({exc}); the folder holds a "
                                 "model of unknown provenance: pick another output folder or delete it") from exc
    wanted = json.loads(json.dumps(dataclasses.asdict(cfg)))
    differs = sorted(key for key in set(wanted) | set(saved_config)
                     if key != "resume" and wanted.get(key) != saved_config.get(key))
    if differs or not cfg.resume:
        why = (f"with another config ({', '.join(f'{k}: {saved_config.get(k)!r} -> {wanted.get(k)!r}' for k in differs)})"
               if differs else "and resume is off (--no-resume)")
        raise TrainingInputError(f"{cfg.output_dir} already holds a finished model, trained {why}; it is not "
                                 "overwritten: pass another output folder, or delete this one to train again")
    return TrainResult(Path(cfg.output_dir), int(saved["global_step"]), list(saved.get("losses", [])), None,
                       str(saved.get("backend")), 0.0, None, already_finished=True)


def _run_steps(backend: Backend, sampler: BatchSampler, dataset: SupervisedDataset, tokenizer: Any,
               state: LoopState, cfg: TrainConfig, info: DistInfo, total: int) -> None:
    from tqdm.auto import tqdm

    set_train_mode(backend.module)
    device = next(backend.module.parameters()).device
    batches = _batches(sampler, dataset, tokenizer.pad_token_id, cfg.max_length, device)
    bar = tqdm(total=total, initial=state.global_step, desc=f"train {cfg.stage}", unit="step",
               disable=not (cfg.progress and info.is_main))
    while state.global_step < total:
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            loss = backend.loss(next(batches))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {state.global_step}; lower the LR "
                                         "or check the data (all labels masked?)")
            backend.backward(loss, micro)
            if isinstance(backend, DeepSpeedBackend) and micro < cfg.grad_accum - 1:
                backend.micro_step()
            step_loss += loss.item() / cfg.grad_accum
        backend.step()
        state.global_step += 1
        state.losses.append(round(step_loss, 6))
        bar.update(1)
        if cfg.logging_steps and state.global_step % cfg.logging_steps == 0:
            bar.set_postfix(loss=f"{step_loss:.4f}")
        if cfg.save_steps and state.global_step % cfg.save_steps == 0 and state.global_step < total:
            save_checkpoint(backend, sampler, state, cfg, info)
    bar.close()
