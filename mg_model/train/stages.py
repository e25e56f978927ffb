"""Training stages: which parameters train, optimizer groups, and the official defaults per model size.

docs/official_code.md#training-stages (module names of docs/official_code.md#module-tree-and-state-dict-names):

* ``pretrain`` (stage 1, feature alignment): only ``model.mm_projector`` and the three patch-info-mining
  projections ``model.vlm_uni_{query,aux,val}_projector`` train; the LLM, CLIP (``model.vision_tower``) and
  ConvNeXt (``model.vision_tower_aux``) are frozen.
* ``finetune`` (stage 2, instruction tuning): the whole LLM (embeddings, layers, norm, ``lm_head``),
  ``mm_projector`` and ``vlm_uni_*`` train; both vision encoders stay frozen.

Stage 1 output is the official ``mm_projector.bin``: every parameter whose name contains one of
:data:`ADAPTER_KEYWORDS`. Stage 2 (including the HD models, which start from the *non-HD* stage-1 adapter)
initialises those parameters from it with :func:`load_adapter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .data import TrainingInputError

STAGES = ("pretrain", "finetune")
ENCODER_KEYWORDS = ("vision_tower",)  # also matches vision_tower_aux
STAGE1_TRAINABLE_KEYWORDS = ("mm_projector", "vlm_uni")
# Official get_mm_adapter_state_maybe_zero_3 keys for mm_projector.bin.
ADAPTER_KEYWORDS = ("mm_projector", "vision_resampler", "vlm_uni", "vision_tower", "vision_fpn", "vision_stages")
ADAPTER_FILE = "mm_projector.bin"
NO_DECAY_KEYWORDS = ("bias", "norm", "ln_", "layernorm")


def resolve_stage(stage: str | int) -> str:
    """``"pretrain"``/``1`` or ``"finetune"``/``2`` -> canonical stage name."""
    aliases = {"1": "pretrain", "2": "finetune", "stage1": "pretrain", "stage2": "finetune"}
    name = aliases.get(str(stage), str(stage))
    if name not in STAGES:
        raise TrainingInputError(f"unknown training stage {stage!r}; use 'pretrain' (1) or 'finetune' (2)")
    return name


def is_trainable(name: str, stage: str) -> bool:
    """Whether parameter ``name`` (a ``named_parameters`` key) trains in ``stage``."""
    if any(keyword in name for keyword in ENCODER_KEYWORDS):
        return False
    if resolve_stage(stage) == "pretrain":
        return any(keyword in name for keyword in STAGE1_TRAINABLE_KEYWORDS)
    return True


def configure_trainable(model: torch.nn.Module, stage: str) -> dict[str, int]:
    """Set ``requires_grad`` per :func:`is_trainable`; put frozen encoders in eval mode.

    Returns counts ``{"trainable": n, "frozen": m}`` of parameters (elements). Raises when nothing would
    train (a model without projector/mining modules in stage 1).
    """
    counts = {"trainable": 0, "frozen": 0}
    for name, parameter in model.named_parameters():
        trainable = is_trainable(name, stage)
        parameter.requires_grad_(trainable)
        counts["trainable" if trainable else "frozen"] += parameter.numel()
    if counts["trainable"] == 0:
        raise TrainingInputError(f"stage {stage!r}: no parameter of the model is trainable; "
                                 "is this an MGM model with mm_projector / vlm_uni_* modules?")
    return counts


def disable_mining(model: torch.nn.Module) -> None:
    """Turn patch info mining off exactly: zero and freeze the mining value projection.

    The mined term ``softmax(q k^T) v`` is then exactly 0, so the visual tokens are ``MLP(X_L)`` as in a
    model without the HR branch (LLaVA-1.5 style, the paper's "baseline" rows), at the same token count.
    The query/key projections are frozen too (they receive no gradient anyway).
    """
    value = getattr(model.model, "vlm_uni_val_projector", None) if hasattr(model, "model") else None
    if value is None:
        raise TrainingInputError("mining=false needs an MGM model with model.vlm_uni_val_projector")
    with torch.no_grad():
        for module in value.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.zero_()
                if module.bias is not None:
                    module.bias.zero_()
    for name, parameter in model.named_parameters():
        if "vlm_uni" in name:
            parameter.requires_grad_(False)


def frozen_encoder_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The vision encoder sub-modules (CLIP and ConvNeXt) found in ``model``."""
    return [module for name, module in model.named_modules()
            if name.split(".")[-1] in ("vision_tower", "vision_tower_aux")]


def set_train_mode(model: torch.nn.Module) -> None:
    """``model.train()`` with the frozen encoders kept in eval mode (no dropout / drop-path in them)."""
    model.train()
    for module in frozen_encoder_modules(model):
        module.eval()


def parameter_groups(model: torch.nn.Module, lr: float, weight_decay: float = 0.0,
                     lr_multi: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """AdamW parameter groups: decay / no-decay (biases, norms) x LR multiplier.

    ``lr_multi`` maps a name substring to a factor (official ``--lr_multi``, e.g.
    ``{"model.mm_projector": 2, "model.vlm_uni": 2}`` for 8x7B / 34B); the first matching key wins.
    Each group has ``params``, ``lr``, ``weight_decay`` and ``names`` (for logs and tests).
    """
    lr_multi = lr_multi or {}
    groups: dict[tuple[float, bool], dict[str, Any]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        factor = next((value for key, value in lr_multi.items() if key in name), 1.0)
        decay = parameter.ndim >= 2 and not any(keyword in name.lower() for keyword in NO_DECAY_KEYWORDS)
        group = groups.setdefault((factor, decay), {"params": [], "names": [], "lr": lr * factor,
                                                    "weight_decay": weight_decay if decay else 0.0})
        group["params"].append(parameter)
        group["names"].append(name)
    return list(groups.values())


def parse_lr_multi(text: str | None) -> dict[str, float]:
    """Parse the official ``--lr_multi`` string ``"model.mm_projector:2,model.vlm_uni:2"``."""
    if not text:
        return {}
    result = {}
    for item in text.split(","):
        key, sep, value = item.partition(":")
        try:
            result[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise TrainingInputError(f"--lr-multi item {item!r} must be NAME:FACTOR, e.g. model.mm_projector:2")
    return result


def adapter_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The stage-1 artefact: every parameter whose name contains an :data:`ADAPTER_KEYWORDS` entry (CPU)."""
    return {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()
            if any(keyword in name for keyword in ADAPTER_KEYWORDS)}


def save_adapter(model: torch.nn.Module, directory: str | Path) -> Path:
    """Write ``mm_projector.bin`` (official stage-1 output layout) into ``directory``."""
    path = Path(directory) / ADAPTER_FILE
    torch.save(adapter_state_dict(model), path)
    return path


def load_adapter(model: torch.nn.Module, path: str | Path) -> list[str]:
    """Initialise ``mm_projector`` and ``vlm_uni_*`` from a stage-1 ``mm_projector.bin`` (``--pretrain_mm_mlp_adapter``).

    The encoders' copies in the file are ignored (they are frozen and equal to the originals). Shapes must
    match: the projector does not depend on the resolution, so a non-HD adapter initialises an HD model.
    Returns the loaded keys; raises naming the missing / mismatched key.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ADAPTER_FILE
    if not path.is_file():
        raise TrainingInputError(f"stage-1 adapter {path} not found (run stage 1 first, or pass its {ADAPTER_FILE})")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    wanted = [name for name in own if any(keyword in name for keyword in STAGE1_TRAINABLE_KEYWORDS)]
    missing = [name for name in wanted if name not in saved]
    if missing:
        raise TrainingInputError(f"{path} lacks {len(missing)} adapter tensors, e.g. {missing[:3]}; was it written "
                                 "by stage 1 of a model with the same projector and mining modules?")
    for name in wanted:
        if saved[name].shape != own[name].shape:
            raise TrainingInputError(f"{path}: {name} has shape {tuple(saved[name].shape)}, the model expects "
                                     f"{tuple(own[name].shape)} (different LLM width or encoder?)")
    model.load_state_dict({name: saved[name] for name in wanted}, strict=False)
    return wanted


def reinit_adapter(model: torch.nn.Module, seed: int) -> list[str]:
    """Fresh random ``mm_projector`` and ``vlm_uni_*`` weights from ``seed`` (the model's own init rule).

    What a stage-1 run of the official code starts from; used to give each training seed of an ablation its
    own projector initialisation. The global torch RNG is left as it was. Returns the re-initialised modules.
    """
    inner = getattr(model, "model", model)
    names = [name for name, _ in inner.named_children() if any(k in name for k in STAGE1_TRAINABLE_KEYWORDS)]
    if not names:
        raise TrainingInputError("init_adapter_seed needs an MGM model with mm_projector / vlm_uni_* modules")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            getattr(inner, name).apply(model._init_weights)
    return names


@dataclass(frozen=True)
class StageDefaults:
    """One row of the official training scripts (docs/official_code.md#training-hyper-parameters)."""

    deepspeed: str
    gpus: int
    per_device_batch: int
    grad_accum: int
    lr: float
    max_length: int
    template: str
    lr_multi: str | None = None

    @property
    def global_batch(self) -> int:
        """Global batch size = GPUs x per-device batch x accumulation."""
        return self.gpus * self.per_device_batch * self.grad_accum


# Shared hyper-parameters of every official run (docs/official_code.md#training-hyper-parameters).
COMMON = {"epochs": 1.0, "warmup_ratio": 0.03, "weight_decay": 0.0, "scheduler": "cosine", "bf16": True,
          "gradient_checkpointing": True, "group_by_modality_length": True}
_MULTI = "model.mm_projector:2,model.vlm_uni:2"

# (size, stage, hd) -> defaults from scripts/<llm>/train/*.sh
OFFICIAL_DEFAULTS: dict[tuple[str, str, bool], StageDefaults] = {
    ("2b", "pretrain", False): StageDefaults("zero2_offload", 8, 8, 4, 1e-3, 2048, "gemma"),
    ("2b", "finetune", False): StageDefaults("zero2", 8, 8, 2, 2e-5, 2048, "gemma"),
    ("2b", "finetune", True): StageDefaults("zero2", 32, 4, 1, 2e-5, 4096, "gemma"),
    ("7b", "pretrain", False): StageDefaults("zero2_offload", 16, 16, 1, 1e-3, 2048, "plain"),
    ("7b", "finetune", False): StageDefaults("zero2_offload", 16, 8, 1, 2e-5, 2048, "vicuna_v1"),
    ("7b", "finetune", True): StageDefaults("zero2", 32, 4, 1, 2e-5, 4096, "vicuna_v1"),
    ("13b", "pretrain", False): StageDefaults("zero2", 32, 8, 1, 1e-3, 2048, "plain"),
    ("13b", "finetune", False): StageDefaults("zero2", 32, 4, 1, 2e-5, 2048, "vicuna_v1"),
    ("13b", "finetune", True): StageDefaults("zero2", 32, 4, 1, 2e-5, 4096, "vicuna_v1"),
    ("8b", "pretrain", False): StageDefaults("zero2_offload", 16, 16, 1, 1e-3, 2048, "llama_3"),
    ("8b", "finetune", False): StageDefaults("zero2_offload", 16, 8, 1, 2e-5, 2048, "llama_3"),
    ("8b", "finetune", True): StageDefaults("zero3", 16, 4, 2, 2e-5, 4096, "llama_3"),
    ("8x7b", "pretrain", False): StageDefaults("zero3", 32, 8, 1, 1e-3, 2048, "plain"),
    ("8x7b", "finetune", False): StageDefaults("zero3", 32, 4, 1, 1e-5, 2048, "mistral_instruct", _MULTI),
    ("8x7b", "finetune", True): StageDefaults("zero3", 32, 4, 1, 1e-5, 4096, "mistral_instruct", _MULTI),
    ("34b", "pretrain", False): StageDefaults("zero3", 32, 8, 1, 1e-3, 2048, "plain"),
    ("34b", "finetune", False): StageDefaults("zero3", 32, 4, 1, 1e-5, 2048, "chatml_direct", _MULTI),
    ("34b", "finetune", True): StageDefaults("zero3", 32, 4, 1, 1e-5, 4096, "chatml_direct", _MULTI),
    # Not an official row: the tiny test/demo model (CPU, no DeepSpeed offload needed).
    ("tiny", "pretrain", False): StageDefaults("zero2", 1, 4, 1, 1e-3, 512, "plain"),
    ("tiny", "finetune", False): StageDefaults("zero2", 1, 4, 1, 2e-4, 512, "vicuna_v1"),
    ("tiny", "finetune", True): StageDefaults("zero2", 1, 4, 1, 2e-4, 512, "vicuna_v1"),
}
SIZES = tuple(dict.fromkeys(size for size, _, _ in OFFICIAL_DEFAULTS))


def size_of_variant(variant: str) -> str:
    """Model size key of a variant name: ``"mgm-7b-hd"`` -> ``"7b"``, ``"MGM-8x7B"`` -> ``"8x7b"``."""
    text = variant.lower().replace("mgm-", "").replace("-hd", "").strip("-/ ")
    for size in sorted(SIZES, key=len, reverse=True):
        if text == size or text.endswith(size) or text.startswith(size + "-"):
            return size
    raise TrainingInputError(f"cannot tell the model size of {variant!r}; known sizes: {list(SIZES)}")


def official_defaults(size: str, stage: str, hd: bool = False) -> StageDefaults:
    """The official script's hyper-parameters for ``size`` / ``stage`` / ``hd`` (docs/official_code.md#training-hyper-parameters).

    HD models have no stage 1 of their own (they reuse the non-HD adapter), so ``("7b", "pretrain", True)``
    returns the non-HD stage-1 row.
    """
    stage = resolve_stage(stage)
    key = (size.lower(), stage, bool(hd) and stage == "finetune")
    if key not in OFFICIAL_DEFAULTS:
        raise TrainingInputError(f"no official training defaults for size={size!r} stage={stage!r} hd={hd}; "
                                 f"sizes: {list(SIZES)} (the 2B-HD row is from the unreleased script)")
    return OFFICIAL_DEFAULTS[key]
