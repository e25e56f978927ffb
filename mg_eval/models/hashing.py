"""A cheap, copy-stable fingerprint of a checkpoint's weights.

Hashing every byte of a 34B checkpoint (~70 GB) would cost minutes per run; hashing file names, sizes
and mtimes is cheap but changes on every copy. This hash reads, per weight file (sorted by relative
path): the relative path, the size, the safetensors JSON header (names, dtypes, shapes, offsets) and
``SAMPLES`` blocks of ``BLOCK`` bytes at evenly spaced offsets. Cost: ~1 MB per file. Stable across
copies and machines; any change of a header or of a sampled block changes it. A change confined to
bytes between the sampled blocks is not detected (documented in ``results/SCHEMA.md``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import struct
from pathlib import Path

from mg_eval.errors import UserInputError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
SAMPLES = 16
BLOCK = 64 * 1024
_MAX_HEADER = 100 * 1024 * 1024
CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")  # a trainer's intermediate checkpoint folder (group: the step)


def weight_files(checkpoint: str | os.PathLike) -> list[Path]:
    """Every weight file under ``checkpoint`` (encoder sub-folders included), sorted by relative path.

    A training output's ``checkpoint-<step>/`` folders are other models, not part of the final model at its
    root: left out (so the trainer pruning them does not change the final model's hash).
    """
    root = Path(checkpoint)
    return sorted((path for path in root.rglob("*") if path.is_file() and path.suffix in WEIGHT_SUFFIXES
                   and not any(CHECKPOINT_DIR.match(part) for part in path.relative_to(root).parts[:-1])),
                  key=lambda path: path.relative_to(root).as_posix())


def _hash_file(digest: hashlib._Hash, path: Path, relative: str) -> None:
    size = path.stat().st_size
    digest.update(f"{relative}\0{size}\0".encode())
    with open(path, "rb") as handle:
        if path.suffix == ".safetensors" and size >= 8:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len <= min(_MAX_HEADER, size - 8):
                digest.update(handle.read(header_len))
        for index in range(SAMPLES):
            offset = (size - BLOCK) * index // max(1, SAMPLES - 1) if size > BLOCK else 0
            handle.seek(max(0, offset))
            digest.update(handle.read(BLOCK))


def weights_hash(checkpoint: str | os.PathLike) -> str:
    """``sha256:<hex>`` fingerprint of the weight files of a checkpoint (or encoder) directory.

    Cached per process by the files' paths, sizes and mtimes, so hashing the same folder again (one
    encoder shared by several checkpoints, several tasks) reads nothing. Raises ``UserInputError``
    when the directory has no weight files.
    """
    root = Path(checkpoint)
    files = weight_files(root)
    if not files:
        raise UserInputError(f"{root}: no weight files (*.safetensors / *.bin) found; point --model at a "
                             "checkpoint directory (build a tiny one with `mg-eval demo`)")
    signature = tuple((path.relative_to(root).as_posix(), path.stat().st_size, path.stat().st_mtime_ns)
                      for path in files)
    return _cached_hash(str(root.resolve()), signature)


@functools.lru_cache(maxsize=64)
def _cached_hash(root: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, _, _ in signature:
        _hash_file(digest, Path(root) / relative, relative)
    return "sha256:" + digest.hexdigest()
