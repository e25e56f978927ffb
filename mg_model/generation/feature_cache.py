"""Vision-feature cache: encode each unique image once (CLIP + ConvNeXt + mining + projector).

Keys are opaque strings chosen by the caller; they must identify the image *after preprocessing*
(``mg_eval.models.mgm`` uses sha256 of the decoded RGB pixels + the preprocessing config + the weights
hash). Values are the visual tokens [T, H] of one image, in the projector dtype, on the model device.

The cache is a byte-bounded LRU (:data:`DEFAULT_CACHE_BYTES`). One entry is T·H·element bytes: MGM-7B
(H = 4096) fp16 = 4.7 MB (LR, T = 576) or 23.6 MB (HD, T = 2880), so 1 GiB holds ~220 LR / ~45 HD
images; the engine's planner puts the samples of one image next to each other, so a small cache
already serves every repeat.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch

DEFAULT_CACHE_BYTES = 1 << 30


class FeatureCache:
    """LRU of visual tokens, at most ``max_bytes`` in all; counts hits, misses and evictions."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = int(max_bytes)
        self.entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0

    def get(self, key: str) -> torch.Tensor | None:
        """The cached tokens of ``key`` (marked most recent), or None."""
        value = self.entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: torch.Tensor) -> None:
        """Store ``value`` [T, H] (detached); evict least recent entries beyond ``max_bytes``."""
        size = value.numel() * value.element_size()
        if size > self.max_bytes or key in self.entries:
            return
        self.entries[key] = value.detach()
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()
            self.evictions += 1

    def stats(self) -> dict[str, int]:
        """Counters for results.json: hits, misses, evictions, entries, bytes, max_bytes."""
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "entries": len(self.entries), "bytes": self.bytes, "max_bytes": self.max_bytes}


def encode_unique(
    encode: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    images: torch.Tensor,
    images_aux: torch.Tensor | None,
    keys: Sequence[str],
    cache: FeatureCache | None,
) -> torch.Tensor:
    """Visual tokens [B, T, H] for ``images`` [B, ...], encoding each distinct key (not in ``cache``) once.

    Args:
        encode: ``model.encode_images`` (pixels [b, ...], aux [b, 3, S, S] -> [b, T, H]).
        images / images_aux: one image per row; rows with equal keys must hold equal pixels.
        keys: one key per row.
        cache: optional :class:`FeatureCache` shared across calls.
    """
    if len(keys) != images.shape[0]:
        raise ValueError(f"{len(keys)} image keys for {images.shape[0]} images")
    found: dict[str, torch.Tensor] = {}
    missing_rows: list[int] = []
    for row, key in enumerate(keys):
        if key in found or any(keys[other] == key for other in missing_rows):
            continue
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            found[key] = cached
        else:
            missing_rows.append(row)
    if missing_rows:
        index = torch.tensor(missing_rows, device=images.device)
        aux = images_aux[index.to(images_aux.device)] if images_aux is not None else None
        encoded = encode(images[index], aux)
        for position, row in enumerate(missing_rows):
            found[keys[row]] = encoded[position]
            if cache is not None:
                cache.put(keys[row], encoded[position])
    return torch.stack([found[key] for key in keys])
