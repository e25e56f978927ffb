"""Where a checkpoint's folders are, and its JSON files read (one reader for every ``*.json`` of a checkpoint).

A released checkpoint names its two encoder folders in ``config.json`` by paths relative to a
``model_zoo/OpenAI/...`` root (docs/official_code.md#config-keys). The model loader and the processor find them the same way,
with :func:`resolve_encoder_dir`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, MGMInputError

logger = logging.getLogger(__name__)

# Hub ids of the official encoders, by the last component of their model_zoo path.
HUB_IDS = {
    "clip-vit-large-patch14-336": "openai/clip-vit-large-patch14-336",
    "openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup": "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup",
}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` forbid the hub (only where files come from)."""
    return any(os.environ.get(name, "") not in ("", "0") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def read_json_file(path: Path, missing_hint: str = "the folder must hold it (official layout)") -> dict[str, Any]:
    """A checkpoint's JSON file as a dict; :class:`CheckpointError` naming the file when absent or invalid.

    Args:
        path: the file.
        missing_hint: what to do when it is absent (appended to the message).
    """
    if not path.is_file():
        raise CheckpointError(f"{path} not found; {missing_hint}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); re-download or fix the file") from err


def read_checkpoint_config(checkpoint_dir: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of a checkpoint directory as a plain dict (model loader and processor alike)."""
    return read_json_file(Path(checkpoint_dir) / "config.json", "point at an MGM checkpoint directory (official layout)")


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """A local checkpoint directory, or a hub id downloaded when the hub is reachable."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local
    if hub_offline() or str(path).count("/") != 1:
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
    if hub_id and not hub_offline():
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(hub_id))
        except Exception as err:  # network problems: report as "not found" below
            logger.warning("could not download %s: %s", hub_id, err)
    return None


def require_encoder_dir(
    value: str | None, checkpoint_dir: str | Path, encoder_root: str | Path | None, key: str
) -> Path:
    """:func:`resolve_encoder_dir` for the processor: :class:`MGMInputError` naming ``key`` and the fix."""
    if not value:
        raise MGMInputError(f"config.json of {checkpoint_dir} has no {key!r}; it must name the encoder directory")
    found = resolve_encoder_dir(str(value), Path(checkpoint_dir), encoder_root)
    if found is None:
        raise MGMInputError(
            f"{key}={value!r} not found relative to the working directory, {checkpoint_dir} or its parent"
            + (f", or {encoder_root}" if encoder_root is not None else "")
            + "; download the encoder there or pass encoder_root=<dir holding model_zoo/OpenAI/...>"
        )
    return Path(found)
