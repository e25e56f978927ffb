"""The tensors of a checkpoint in the official layout: weight files, lazy reads, official <-> internal key names.

* :func:`checkpoint_files` lists the shards of ``model.safetensors.index.json`` (or
  ``pytorch_model.bin.index.json``, or the one ``model.safetensors`` / ``pytorch_model.bin``);
* :func:`iter_tensors` reads one file lazily (memory-mapped, one tensor in memory at a time);
* :func:`clip_dir_tensors` / :func:`open_clip_tensors` rename the encoder folders' weights to the official
  MGM keys (``CLIP_PREFIX`` / ``HR_PREFIX``);
* :func:`official_to_internal` / :func:`internal_to_official`: only Mixtral's per-expert weights differ
  (stacked into transformers 5's fused experts on load, split back on save).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from ..errors import CheckpointError
from .dirs import read_json_file

INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
OPEN_CLIP_FILES = ("open_clip_pytorch_model.bin", "open_clip_pytorch_model.safetensors", "open_clip_model.safetensors")
CLIP_PREFIX = "model.vision_tower.vision_tower.vision_model."
HR_PREFIX = "model.vision_tower_aux."


def checkpoint_files(checkpoint_dir: Path) -> list[Path]:
    """Weight files of a checkpoint: the shards listed by the index, else the single weight file."""
    for index_name in INDEX_FILES:
        index_path = checkpoint_dir / index_name
        if index_path.is_file():
            index = read_json_file(index_path)
            weight_map = index.get("weight_map") if isinstance(index, dict) else None
            if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
                raise CheckpointError(f"{index_path} has no 'weight_map' object of tensor name -> shard file; "
                                      "re-download or re-save the checkpoint")
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


def check_weight_headers(files: Sequence[Path]) -> None:
    """Open the header of every ``.safetensors`` file (no tensor is read): :class:`CheckpointError` naming a
    truncated or foreign file before any model is built. Torch pickles are checked only when loaded."""
    for path in files:
        if path.suffix == ".safetensors":
            next(iter_tensors(path), None)


def iter_tensors(path: Path) -> Iterator[tuple[str, LazyTensor]]:
    """(name, lazy tensor) pairs of one ``.safetensors`` or torch pickle file (weights only, memory-mapped)."""
    if path.suffix == ".safetensors":
        try:
            handle = safe_open(str(path), framework="pt")
        except (SafetensorError, OSError) as err:  # truncated / not a safetensors file
            raise CheckpointError(f"{path} is not a readable safetensors file ({err}); re-download it") from err
        for name in handle.keys():
            yield name, LazyTensor(handle.get_slice(name).get_shape(), functools.partial(handle.get_tensor, name))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except (RuntimeError, OSError, EOFError, ValueError) as err:  # truncated or not a torch file
            raise CheckpointError(f"{path} is not a readable torch weight file ({err}); re-download it") from err
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
    config = read_json_file(clip_dir / "config.json", "an HF CLIP directory holds its config.json")
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
