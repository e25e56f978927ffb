"""Load Mini-Gemini checkpoints in the official layout (docs/official_code.md#config-keys, #module-tree-and-state-dict-names,
#weight-sources-at-load-time, #on-disk-layout).

A released checkpoint directory holds ``config.json`` (flat LLM + MGM keys, encoder paths relative to a
``model_zoo/OpenAI/...`` root), sharded safetensors with ``model.safetensors.index.json`` (or a single
``model.safetensors`` / ``pytorch_model.bin``), and the tokenizer. Weight sources, as in the official
builder:

* LLM, ``mm_projector``, ``vlm_uni_*``: the checkpoint shards.
* CLIP: the shards' ``model.vision_tower.vision_tower.*`` copy when present, else the CLIP directory.
* ConvNeXt: ``open_clip_pytorch_model.bin`` (or ``.safetensors``) in the HR directory, else the shards.

Every key is accounted for: missing, unexpected or mis-shaped keys raise one :class:`CheckpointError`
listing all of them, before the model is used.

Layering: this module does not import the model; ``MGMForCausalLM.from_pretrained`` passes its
``model_class_for`` in. Folders and JSON files: :mod:`mg_model.checkpoint.dirs`; tensors and key names:
:mod:`mg_model.checkpoint.tensors`; saving: :mod:`mg_model.checkpoint.saving` (all re-exported here, their former home).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..configuration_mgm import MGM_DEFAULTS, MGMConfig, config_from_dict
from ..errors import CheckpointError
from .dirs import HUB_IDS, read_checkpoint_config, resolve_checkpoint_dir, resolve_encoder_dir
from .saving import ARCHITECTURE_OF_TYPE, parse_size, save_mgm
from .tensors import (
    CLIP_PREFIX,
    HR_PREFIX,
    INDEX_FILES,
    OPEN_CLIP_FILES,
    SINGLE_FILES,
    LazyTensor,
    checkpoint_files,
    clip_dir_tensors,
    clip_vision_config_of,
    internal_to_official,
    iter_tensors,
    official_to_internal,
    open_clip_tensors,
)

__all__ = [  # the names this module held before the split, importable from here as before
    "ARCHITECTURE_OF_TYPE", "CLIP_PREFIX", "DTYPES", "HR_PREFIX", "HUB_IDS", "IGNORABLE_SUFFIXES", "INDEX_FILES",
    "OPEN_CLIP_FILES", "SINGLE_FILES", "CheckpointError", "LazyTensor", "ResolvedCheckpoint", "build_config", "checkpoint_files",
    "clip_dir_tensors", "clip_vision_config_of", "internal_to_official", "iter_tensors", "load_mgm",
    "official_to_internal", "open_clip_tensors", "parse_size", "resolve_checkpoint", "resolve_checkpoint_dir",
    "resolve_encoder_dir", "save_mgm", "weight_sources",
]

logger = logging.getLogger(__name__)

# Buffers some transformers versions saved; never parameters of the model.
IGNORABLE_SUFFIXES = ("rotary_emb.inv_freq", "embeddings.position_ids")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
ModelClassFor = Callable[[type[MGMConfig]], type[nn.Module]]


def build_config(values: dict[str, Any], clip_dir: Path | None, source: Path) -> MGMConfig:
    """MGMConfig from config.json values, taking the CLIP hyper-parameters from the CLIP directory.

    Raises :class:`CheckpointError` naming ``source`` for unknown/contradictory keys, or when the CLIP
    directory contradicts an explicit ``mm_vision_config``.
    """
    values = dict(values)
    if clip_dir is not None and (clip_dir / "config.json").is_file():
        found = clip_vision_config_of(clip_dir)
        declared = values.get("mm_vision_config")
        if declared:
            clash = {k: (declared[k], v) for k, v in found.items() if k in declared and declared[k] != v}
            if clash:
                raise CheckpointError(
                    f"CLIP directory {clip_dir} contradicts {source} mm_vision_config on {clash} (config, directory)"
                )
        else:
            values["mm_vision_config"] = found
    try:
        return config_from_dict(values)
    except ValueError as err:
        raise CheckpointError(f"{source}: {err}{_clip_hint(values, clip_dir)}") from err


def _clip_hint(values: dict[str, Any], clip_dir: Path | None) -> str:
    if clip_dir is not None or values.get("mm_vision_config"):
        return ""
    return (
        f" (the CLIP directory {values.get('mm_vision_tower')!r} was not found, so CLIP ViT-L/14-336 was "
        "assumed; pass encoder_root=<folder holding model_zoo/OpenAI/...> or run from that folder)"
    )


def load_mgm(
    path: str | os.PathLike,
    *,
    model_class_for: ModelClassFor,
    torch_dtype: torch.dtype | str | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict | torch.device | None = None,
    device: str | torch.device | None = None,
    encoder_root: str | os.PathLike | None = None,
    hr_drop_path_at_inference: bool | None = None,
    **config_overrides: Any,
) -> Any:
    """Load an official-layout MGM checkpoint (``MGMForCausalLM.from_pretrained``).

    Args:
        path: checkpoint directory (or hub id when online).
        model_class_for: MGM config class -> model class (``mg_model.modeling_mgm.model_class_for``).
        torch_dtype / dtype: torch.float32 (default), float16, bfloat16, their names, or "auto" (the
            config's ``torch_dtype``). The official evaluation ran in float16.
        device_map: None, a device ("cpu", "cuda:0"), "auto" or an accelerate device map dict.
        device: shorthand for a single device (same as a device string in ``device_map``).
        encoder_root: a folder holding ``model_zoo/OpenAI/...`` or the two encoder folders.
        hr_drop_path_at_inference: True reproduces the official active ConvNeXt DropPath (docs/official_code.md#convnext-drop-path-at-inference).
        **config_overrides: other config keys to override (validated like config.json).

    Returns:
        The model in eval mode; every parameter loaded (else :class:`CheckpointError`).
    """
    if hr_drop_path_at_inference is not None:
        config_overrides["hr_drop_path_at_inference"] = bool(hr_drop_path_at_inference)
    found = resolve_checkpoint(path, encoder_root, **config_overrides)
    checkpoint_dir, config, clip_dir = found.checkpoint_dir, found.config, found.clip_dir
    target_dtype = _resolve_dtype(dtype if dtype is not None else torch_dtype, config)
    target = device_map if device_map is not None else device
    build_device = "cpu" if target is None or target == "auto" or isinstance(target, dict) else torch.device(target)
    try:
        model = _build_empty(model_class_for(type(config)), config, target_dtype, build_device)
    except ValueError as err:
        raise CheckpointError(f"{checkpoint_dir / 'config.json'}: {err}{_clip_hint(found.values, clip_dir)}") from err
    sources = weight_sources(found)
    _load_all(model, sources, target_dtype)
    model.tie_weights()
    _load_generation_config(model, checkpoint_dir)
    model.eval()
    return _place(model, target, target_dtype)


@dataclasses.dataclass(frozen=True)
class ResolvedCheckpoint:
    """An official-layout checkpoint found on disk: its folder, config, encoder folders and weight files."""

    checkpoint_dir: Path
    values: dict[str, Any]  # config.json values with the caller's overrides
    config: MGMConfig  # with the CLIP hyper-parameters of the CLIP folder
    clip_dir: Path | None
    hr_dir: Path | None
    files: list[Path]


def resolve_checkpoint(
    path: str | os.PathLike, encoder_root: str | os.PathLike | None = None, **config_overrides: Any
) -> ResolvedCheckpoint:
    """Find a checkpoint's folder, config (CLIP settings from the CLIP folder), encoder folders and shards.

    Used by :func:`load_mgm` and by the vLLM model (:mod:`mg_model.vllm`); raises :class:`CheckpointError`.
    """
    checkpoint_dir = resolve_checkpoint_dir(path)
    if encoder_root is not None and not Path(encoder_root).expanduser().is_dir():
        raise CheckpointError(f"encoder_root {str(encoder_root)!r} is not a directory; pass the folder that holds "
                              "model_zoo/OpenAI/... (or the two encoder folders)")
    values = {**read_checkpoint_config(checkpoint_dir), **config_overrides}
    clip_dir = resolve_encoder_dir(values.get("mm_vision_tower", MGM_DEFAULTS["mm_vision_tower"]), checkpoint_dir, encoder_root)
    hr_dir = resolve_encoder_dir(
        values.get("mm_vision_tower_aux", MGM_DEFAULTS["mm_vision_tower_aux"]), checkpoint_dir, encoder_root
    )
    config = build_config(values, clip_dir, checkpoint_dir / "config.json")
    files = checkpoint_files(checkpoint_dir)
    config._name_or_path = str(checkpoint_dir)
    return ResolvedCheckpoint(checkpoint_dir, values, config, clip_dir, hr_dir, files)


def weight_sources(found: ResolvedCheckpoint) -> list[tuple[str, dict[str, LazyTensor]]]:
    """Named weight sources of a checkpoint, later ones overriding earlier ones (CLIP dir < shards < open_clip
    file), as the official builder loads them; keys are this package's internal names."""
    return _collect_sources(found.files, found.clip_dir, found.hr_dir, found.config)


def _resolve_dtype(requested: torch.dtype | str | None, config: MGMConfig) -> torch.dtype:
    if requested is None:
        return torch.float32
    if requested == "auto":
        requested = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "float32"
    if isinstance(requested, torch.dtype):
        return requested
    name = str(requested).replace("torch.", "")
    if name not in DTYPES:
        raise CheckpointError(f"dtype {requested!r} is not supported; use one of {sorted(DTYPES)} or 'auto'")
    return DTYPES[name]


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _build_empty(
    model_class: type[nn.Module], config: MGMConfig, dtype: torch.dtype, device: str | torch.device = "cpu"
) -> Any:
    """The model with uninitialised parameters in ``dtype`` on ``device`` (all of them are loaded afterwards)."""
    from transformers.initialization import no_init_weights

    with no_init_weights(), _default_dtype(dtype), torch.device(device):
        model = model_class(config)
    model.tie_weights()
    return model


def _collect_sources(
    files: list[Path], clip_dir: Path | None, hr_dir: Path | None, config: MGMConfig
) -> list[tuple[str, dict[str, LazyTensor]]]:
    """Named weight sources, later ones overriding earlier ones (CLIP dir < shards < open_clip file)."""
    shards: dict[str, LazyTensor] = {}
    for file in files:
        shards.update(iter_tensors(file))
    sources: list[tuple[str, dict[str, LazyTensor]]] = []
    has_clip = any(name.startswith(CLIP_PREFIX) for name in shards)
    if not has_clip:
        if clip_dir is None:
            raise CheckpointError(
                f"the checkpoint shards have no CLIP weights ({CLIP_PREFIX}*) and the CLIP directory "
                f"{config.mm_vision_tower!r} was not found relative to {files[0].parent}, the working directory "
                "or encoder_root; pass encoder_root=<folder holding model_zoo/OpenAI/...>"
            )
        sources.append((f"CLIP directory {clip_dir}", clip_dir_tensors(clip_dir)))
    sources.append(("checkpoint shards", official_to_internal(shards, config.llm_type)))
    hr_tensors = open_clip_tensors(hr_dir) if hr_dir is not None else None
    if hr_tensors is not None:
        sources.append((f"open_clip file in {hr_dir}", hr_tensors))
    elif any(name.startswith(HR_PREFIX) for name in shards):
        logger.warning(
            "HR encoder %r not found; using the ConvNeXt copy stored in the checkpoint shards (the official "
            "code loads the LAION open_clip file; values may differ by bf16 rounding)",
            config.mm_vision_tower_aux,
        )
    else:
        raise CheckpointError(
            f"the ConvNeXt HR encoder {config.mm_vision_tower_aux!r} was not found (need a folder with one of "
            f"{OPEN_CLIP_FILES}) relative to {files[0].parent}, the working directory or encoder_root, and the "
            "shards hold no copy; pass encoder_root=<folder holding model_zoo/OpenAI/...>"
        )
    return sources


def _load_all(model: Any, sources: list[tuple[str, dict[str, LazyTensor]]], dtype: torch.dtype) -> None:
    """Copy every source tensor into the model; raise one report for missing/unexpected/mis-shaped keys."""
    expected = model.state_dict()
    tied = {"lm_head.weight"} if model.lm_head.weight is model.model.embed_tokens.weight else set()
    merged: dict[str, tuple[str, LazyTensor]] = {}
    for source_name, tensors in sources:
        for name, tensor in tensors.items():
            merged[name] = (source_name, tensor)
    unexpected = sorted(
        f"{name} ({source})" for name, (source, _) in merged.items()
        if name not in expected and not name.endswith(IGNORABLE_SUFFIXES)
    )
    mis_shaped = sorted(
        f"{name}: checkpoint {tuple(tensor.shape)} vs model {tuple(expected[name].shape)} ({source})"
        for name, (source, tensor) in merged.items()
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape)
    )
    missing = sorted(name for name in expected if name not in merged and name not in tied)
    if unexpected or mis_shaped or missing:
        raise CheckpointError(_key_report(missing, unexpected, mis_shaped))
    with torch.no_grad():
        for name, param in expected.items():
            if name in merged:
                tensor = merged[name][1].load()
                param.copy_(tensor.to(dtype if param.is_floating_point() else param.dtype))


def _key_report(missing: list[str], unexpected: list[str], mis_shaped: list[str], shown: int = 20) -> str:
    lines = ["checkpoint does not match the MGM model built from its config.json:"]
    for title, names in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mis_shaped)):
        if names:
            lines.append(f"  {len(names)} {title} key(s):")
            lines += [f"    {name}" for name in names[:shown]]
            if len(names) > shown:
                lines.append(f"    ... and {len(names) - shown} more")
    lines.append(
        "Check that config.json describes these weights (LLM sizes, image_size_aux, encoder paths) and that "
        "no shard is missing; nothing was initialised randomly."
    )
    return "\n".join(lines)


def _load_generation_config(model: Any, checkpoint_dir: Path) -> None:
    if (checkpoint_dir / "generation_config.json").is_file():
        from transformers import GenerationConfig

        try:
            model.generation_config = GenerationConfig.from_pretrained(str(checkpoint_dir))
        except (OSError, ValueError) as err:  # transformers: "... is not a valid JSON file", bad values
            raise CheckpointError(f"{checkpoint_dir / 'generation_config.json'}: {str(err).rstrip('.')}; fix or re-download "
                                  "it") from err


def _place(model: Any, device_map: Any, dtype: torch.dtype) -> Any:
    if device_map is None:
        return model
    if device_map == "auto" or isinstance(device_map, dict):
        from accelerate import dispatch_model, infer_auto_device_map

        if device_map == "auto":
            device_map = infer_auto_device_map(model, no_split_module_classes=model._no_split_modules, dtype=dtype)
        return dispatch_model(model, device_map=device_map)
    return model  # built on its device already
