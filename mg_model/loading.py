"""Load and save Mini-Gemini checkpoints in the official layout (spec §1.2, §2.2-§2.4).

A released checkpoint directory holds ``config.json`` (flat LLM + MGM keys, encoder paths relative to a
``model_zoo/OpenAI/...`` root), sharded safetensors with ``model.safetensors.index.json`` (or a single
``model.safetensors`` / ``pytorch_model.bin``), and the tokenizer. Weight sources, as in the official
builder:

* LLM, ``mm_projector``, ``vlm_uni_*``: the checkpoint shards.
* CLIP: the shards' ``model.vision_tower.vision_tower.*`` copy when present, else the CLIP directory.
* ConvNeXt: ``open_clip_pytorch_model.bin`` (or ``.safetensors``) in the HR directory, else the shards.

Every key is accounted for: missing, unexpected or mis-shaped keys raise one :class:`CheckpointError`
listing all of them, before the model is used.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import PretrainedConfig

from .configuration_mgm import MGM_DEFAULTS, MGMConfig, config_from_dict, register_mgm
from .modeling_mgm import MGMForCausalLM

logger = logging.getLogger(__name__)

INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
OPEN_CLIP_FILES = ("open_clip_pytorch_model.bin", "open_clip_pytorch_model.safetensors", "open_clip_model.safetensors")
HUB_IDS = {
    "clip-vit-large-patch14-336": "openai/clip-vit-large-patch14-336",
    "openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup": "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup",
}
CLIP_PREFIX = "model.vision_tower.vision_tower.vision_model."
HR_PREFIX = "model.vision_tower_aux."
ARCHITECTURE_OF_TYPE = {
    "mgm": "MGMLlamaForCausalLM",
    "mgm_gemma": "MGMGemmaForCausalLM",
    "mgm_mixtral": "MGMMixtralForCausalLM",
    "mgm_mistral": "MGMMistralForCausalLM",
}
# Buffers some transformers versions saved; never parameters of the model.
IGNORABLE_SUFFIXES = ("rotary_emb.inv_freq", "embeddings.position_ids")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class CheckpointError(RuntimeError):
    """A checkpoint directory is incomplete or does not match the model (one report for all keys)."""


# ----------------------------------------------------------------------------------------------- paths
def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """A local checkpoint directory, or a hub id downloaded when the hub is reachable."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local
    if _hub_offline() or str(path).count("/") != 1:
        raise CheckpointError(
            f"checkpoint directory {str(path)!r} does not exist (and it is not a hub id usable offline); "
            "pass the folder that holds config.json and the model shards"
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(path)))


def resolve_encoder_dir(configured: str, checkpoint_dir: Path, encoder_root: str | os.PathLike | None) -> Path | None:
    """Find an encoder directory named by ``mm_vision_tower`` / ``mm_vision_tower_aux``.

    Tried in order: the path as given (absolute or relative to the working directory), relative to the
    checkpoint directory and to its parent, under ``encoder_root`` (full relative path, then the last path
    component), then the hub id for the official encoders when online. Returns None when not found.
    """
    configured_path = Path(configured)
    candidates = [configured_path, checkpoint_dir / configured_path, checkpoint_dir.parent / configured_path]
    if encoder_root is not None:
        root = Path(encoder_root).expanduser()
        candidates += [root / configured_path, root / configured_path.name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    hub_id = HUB_IDS.get(configured_path.name)
    if hub_id and not _hub_offline():
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(hub_id))
        except Exception as err:  # network problems: report as "not found" below
            logger.warning("could not download %s: %s", hub_id, err)
    return None


def _hub_offline() -> bool:
    return any(os.environ.get(name, "") not in ("", "0") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


# -------------------------------------------------------------------------------------------- reading
def checkpoint_files(checkpoint_dir: Path) -> list[Path]:
    """Weight files of a checkpoint: the shards listed by the index, else the single weight file."""
    for index_name in INDEX_FILES:
        index_path = checkpoint_dir / index_name
        if index_path.is_file():
            weight_map = json.loads(index_path.read_text())["weight_map"]
            files = [checkpoint_dir / name for name in dict.fromkeys(weight_map.values())]
            absent = [str(file.name) for file in files if not file.is_file()]
            if absent:
                raise CheckpointError(f"{index_path} lists shard(s) {absent} that are not in {checkpoint_dir}")
            return files
    for single in SINGLE_FILES:
        if (checkpoint_dir / single).is_file():
            return [checkpoint_dir / single]
    raise CheckpointError(
        f"no weights in {checkpoint_dir}: expected {INDEX_FILES[0]} with its shards, or one of {SINGLE_FILES}"
    )


class LazyTensor:
    """A checkpoint tensor whose shape is known before its data is read (one tensor in memory at a time).

    Args:
        shape: the tensor's shape.
        read: returns the tensor (CPU) when called.
    """

    def __init__(self, shape: Sequence[int], read: Callable[[], torch.Tensor]) -> None:
        self.shape = tuple(int(size) for size in shape)
        self._read = read

    def load(self) -> torch.Tensor:
        """Read the tensor."""
        return self._read()


def iter_tensors(path: Path) -> Iterator[tuple[str, LazyTensor]]:
    """(name, lazy tensor) pairs of one ``.safetensors`` or torch pickle file (weights only, memory-mapped)."""
    if path.suffix == ".safetensors":
        handle = safe_open(str(path), framework="pt")
        for name in handle.keys():
            yield name, LazyTensor(handle.get_slice(name).get_shape(), functools.partial(handle.get_tensor, name))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        for name, tensor in state.items():
            yield name, LazyTensor(tensor.shape, functools.partial(_identity, tensor))


def _identity(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def clip_dir_tensors(clip_dir: Path) -> dict[str, LazyTensor]:
    """CLIP vision weights of an HF CLIP directory, renamed to the official MGM keys."""
    files = [clip_dir / name for name in ("model.safetensors", "pytorch_model.bin") if (clip_dir / name).is_file()]
    if not files:
        raise CheckpointError(f"CLIP directory {clip_dir} has neither model.safetensors nor pytorch_model.bin")
    tensors = {}
    for name, tensor in iter_tensors(files[0]):
        for prefix in ("vision_model.", "vision_tower.vision_model."):
            if name.startswith(prefix):
                tensors[CLIP_PREFIX + name[len(prefix) :]] = tensor
    return tensors


def open_clip_tensors(hr_dir: Path) -> dict[str, LazyTensor] | None:
    """ConvNeXt stem/stage weights of an open_clip file, renamed to the official MGM keys (None if absent)."""
    files = [hr_dir / name for name in OPEN_CLIP_FILES if (hr_dir / name).is_file()]
    if not files:
        return None
    tensors = {}
    for name, tensor in iter_tensors(files[0]):
        for source, target in (("visual.trunk.stem.", "vision_stem."), ("visual.trunk.stages.", "vision_stages.")):
            if name.startswith(source):
                tensors[HR_PREFIX + target + name[len(source) :]] = tensor
    return tensors


def clip_vision_config_of(clip_dir: Path) -> dict[str, Any]:
    """The CLIP vision hyper-parameters of an HF CLIP directory's config.json."""
    config = json.loads((clip_dir / "config.json").read_text())
    vision = config.get("vision_config", config)
    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
            "patch_size", "hidden_act", "layer_norm_eps", "projection_dim", "num_channels")
    return {key: vision[key] for key in keys if key in vision}


# ---------------------------------------------------------------------------------------- key mapping
def official_to_internal(state: dict[str, LazyTensor], llm_type: str) -> dict[str, LazyTensor]:
    """Rename official keys to this model's (only Mixtral's per-expert weights differ: they are stacked)."""
    if llm_type != "mixtral":
        return state
    out, experts = {}, {}
    for name, tensor in state.items():
        if ".block_sparse_moe." not in name:
            out[name] = tensor
            continue
        prefix, rest = name.split(".block_sparse_moe.")
        if rest == "gate.weight":
            out[f"{prefix}.mlp.gate.weight"] = tensor
            continue
        _, expert, which, _ = rest.split(".")  # experts.{e}.w{1,2,3}.weight
        experts.setdefault(prefix, {})[(int(expert), which)] = tensor
    for prefix, weights in experts.items():
        count = 1 + max(expert for expert, _ in weights)
        gates, ups, downs = ([weights[(e, w)] for e in range(count)] for w in ("w1", "w3", "w2"))
        out[f"{prefix}.mlp.experts.gate_up_proj"] = LazyTensor(
            (count, gates[0].shape[0] + ups[0].shape[0], gates[0].shape[1]),
            functools.partial(_stack_gate_up, gates, ups),
        )
        out[f"{prefix}.mlp.experts.down_proj"] = LazyTensor(
            (count, *downs[0].shape), functools.partial(_stack, downs)
        )
    return out


def _stack_gate_up(gates: list[LazyTensor], ups: list[LazyTensor]) -> torch.Tensor:
    return torch.stack([torch.cat([gate.load(), up.load()], dim=0) for gate, up in zip(gates, ups)])


def _stack(parts: list[LazyTensor]) -> torch.Tensor:
    return torch.stack([part.load() for part in parts])


def internal_to_official(state: dict[str, torch.Tensor], llm_type: str) -> dict[str, torch.Tensor]:
    """Inverse of :func:`official_to_internal`."""
    if llm_type != "mixtral":
        return dict(state)
    out = {}
    for name, tensor in state.items():
        if name.endswith(".mlp.gate.weight"):
            out[name.replace(".mlp.gate.", ".block_sparse_moe.gate.")] = tensor
        elif name.endswith(".mlp.experts.gate_up_proj"):
            prefix = name[: -len(".mlp.experts.gate_up_proj")]
            for expert, fused in enumerate(tensor):
                gate, up = fused.chunk(2, dim=0)
                out[f"{prefix}.block_sparse_moe.experts.{expert}.w1.weight"] = gate.contiguous()
                out[f"{prefix}.block_sparse_moe.experts.{expert}.w3.weight"] = up.contiguous()
        elif name.endswith(".mlp.experts.down_proj"):
            prefix = name[: -len(".mlp.experts.down_proj")]
            for expert, down in enumerate(tensor):
                out[f"{prefix}.block_sparse_moe.experts.{expert}.w2.weight"] = down.contiguous()
        else:
            out[name] = tensor
    return out


# --------------------------------------------------------------------------------------------- loading
def read_config_values(checkpoint_dir: Path) -> dict[str, Any]:
    """``config.json`` of a checkpoint as a dict (clear error when absent or not JSON)."""
    config_path = checkpoint_dir / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{checkpoint_dir} has no config.json; is it an MGM checkpoint directory?")
    try:
        return json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{config_path} is not valid JSON: {err}") from err


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
    torch_dtype: torch.dtype | str | None = None,
    dtype: torch.dtype | str | None = None,
    device_map: str | dict | torch.device | None = None,
    device: str | torch.device | None = None,
    encoder_root: str | os.PathLike | None = None,
    hr_drop_path_at_inference: bool | None = None,
    **config_overrides: Any,
) -> MGMForCausalLM:
    """Load an official-layout MGM checkpoint (``MGMForCausalLM.from_pretrained``).

    Args:
        path: checkpoint directory (or hub id when online).
        torch_dtype / dtype: torch.float32 (default), float16, bfloat16, their names, or "auto" (the
            config's ``torch_dtype``). The official evaluation ran in float16.
        device_map: None, a device ("cpu", "cuda:0"), "auto" or an accelerate device map dict.
        device: shorthand for a single device (same as a device string in ``device_map``).
        encoder_root: a folder holding ``model_zoo/OpenAI/...`` or the two encoder folders.
        hr_drop_path_at_inference: True reproduces the official active ConvNeXt DropPath (spec §4.4).
        **config_overrides: other config keys to override (validated like config.json).

    Returns:
        The model in eval mode; every parameter loaded (else :class:`CheckpointError`).
    """
    register_mgm()
    checkpoint_dir = resolve_checkpoint_dir(path)
    if encoder_root is not None and not Path(encoder_root).expanduser().is_dir():
        raise CheckpointError(f"encoder_root {str(encoder_root)!r} is not a directory; pass the folder that holds "
                              "model_zoo/OpenAI/... (or the two encoder folders)")
    if hr_drop_path_at_inference is not None:
        config_overrides["hr_drop_path_at_inference"] = bool(hr_drop_path_at_inference)
    values = {**read_config_values(checkpoint_dir), **config_overrides}
    clip_dir = resolve_encoder_dir(values.get("mm_vision_tower", MGM_DEFAULTS["mm_vision_tower"]), checkpoint_dir, encoder_root)
    hr_dir = resolve_encoder_dir(
        values.get("mm_vision_tower_aux", MGM_DEFAULTS["mm_vision_tower_aux"]), checkpoint_dir, encoder_root
    )
    config = build_config(values, clip_dir, checkpoint_dir / "config.json")
    target_dtype = _resolve_dtype(dtype if dtype is not None else torch_dtype, config)
    files = checkpoint_files(checkpoint_dir)
    config._name_or_path = str(checkpoint_dir)
    target = device_map if device_map is not None else device
    build_device = "cpu" if target is None or target == "auto" or isinstance(target, dict) else torch.device(target)
    try:
        model = _build_empty(config, target_dtype, build_device)
    except ValueError as err:
        raise CheckpointError(f"{checkpoint_dir / 'config.json'}: {err}{_clip_hint(values, clip_dir)}") from err
    sources = _collect_sources(model, files, clip_dir, hr_dir, config)
    _load_all(model, sources, target_dtype)
    model.tie_weights()
    _load_generation_config(model, checkpoint_dir)
    model.eval()
    return _place(model, target, target_dtype)


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


def _build_empty(config: MGMConfig, dtype: torch.dtype, device: str | torch.device = "cpu") -> MGMForCausalLM:
    """The model with uninitialised parameters in ``dtype`` on ``device`` (all of them are loaded afterwards)."""
    from transformers.initialization import no_init_weights

    from .modeling_mgm import model_class_for

    with no_init_weights(), _default_dtype(dtype), torch.device(device):
        model = model_class_for(type(config))(config)
    model.tie_weights()
    return model


def _collect_sources(
    model: MGMForCausalLM, files: list[Path], clip_dir: Path | None, hr_dir: Path | None, config: MGMConfig
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


def _load_all(model: MGMForCausalLM, sources: list[tuple[str, dict[str, LazyTensor]]], dtype: torch.dtype) -> None:
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


def _load_generation_config(model: MGMForCausalLM, checkpoint_dir: Path) -> None:
    if (checkpoint_dir / "generation_config.json").is_file():
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig.from_pretrained(str(checkpoint_dir))


def _place(model: MGMForCausalLM, device_map: Any, dtype: torch.dtype) -> MGMForCausalLM:
    if device_map is None:
        return model
    if device_map == "auto" or isinstance(device_map, dict):
        from accelerate import dispatch_model, infer_auto_device_map

        if device_map == "auto":
            device_map = infer_auto_device_map(model, no_split_module_classes=model._no_split_modules, dtype=dtype)
        return dispatch_model(model, device_map=device_map)
    return model  # built on its device already


# ---------------------------------------------------------------------------------------------- saving
def save_mgm(model: MGMForCausalLM, save_directory: str | os.PathLike, max_shard_size: int = 5 * 1024**3) -> Path:
    """Write ``config.json``, ``model-XXXXX-of-XXXXX.safetensors`` shards and the index (official keys).

    The CLIP hyper-parameters are written as ``mm_vision_config`` when they are not CLIP-L/336, so the
    saved folder loads without its encoder directories (both encoders are stored in the shards).
    """
    out = Path(save_directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    if model.lm_head.weight is model.model.embed_tokens.weight:
        state.pop("lm_head.weight", None)
    state = internal_to_official(state, model.config.llm_type)
    shards = _split_shards(state, max_shard_size)
    weight_map, total = {}, 0
    for number, shard in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, name))
        total += sum(tensor.numel() * tensor.element_size() for tensor in shard.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (out / INDEX_FILES[0]).write_text(json.dumps(index, indent=2) + "\n")
    _write_config(model, out)
    model.generation_config.save_pretrained(str(out))
    return out


def parse_size(size: int | str) -> int:
    """Bytes of ``5000000`` / ``"5GB"`` / ``"500MB"`` / ``"10KB"`` (decimal units, as transformers)."""
    if isinstance(size, int):
        return size
    text = str(size).strip().upper()
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("B", 1)):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def _split_shards(state: dict[str, torch.Tensor], max_shard_size: int) -> list[dict[str, torch.Tensor]]:
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    return shards


def _write_config(model: MGMForCausalLM, out: Path) -> None:
    """config.json in the official flat form; implementation-only keys are written only when not default."""
    from .configuration_mgm import CLIP_L_336_VISION_CONFIG, MGM_DEFAULTS

    config = model.config
    values = config.to_dict()
    generic_defaults = PretrainedConfig().to_dict()
    for key in ("id2label", "label2id", "chunk_size_feed_forward", "is_encoder_decoder", "output_attentions",
                "output_hidden_states", "problem_type", "return_dict"):
        if key in values and values[key] == generic_defaults.get(key):
            del values[key]  # transformers-internal defaults, absent from released files
    values.pop("_name_or_path", None)
    values.pop("dtype", None)
    values["architectures"] = [ARCHITECTURE_OF_TYPE.get(config.model_type, "MGMLlamaForCausalLM")]
    values["torch_dtype"] = str(model.dtype).replace("torch.", "")
    clip = config.clip_vision_config_dict()
    if all(clip.get(key) == value for key, value in CLIP_L_336_VISION_CONFIG.items()):
        values["mm_vision_config"] = None
    for key in ("llm_model_type", "mm_vision_config", "hr_convnext_dims", "hr_convnext_depths",
                "hr_drop_path_rate", "hr_drop_path_at_inference"):
        if values.get(key) == MGM_DEFAULTS[key]:
            values.pop(key, None)
    (out / "config.json").write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
