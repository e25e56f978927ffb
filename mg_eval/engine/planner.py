"""Batch planning that keeps the samples of one image together (for the vision-feature cache and prefix sharing).

``image_order`` reorders a planned sample order so that samples whose documents hold the same image
are adjacent; ``plan_batches`` (in ``runner``) then cuts it into batches as usual. The identity of a
document's images is computed from the documents only (file path, or a hash of the encoded bytes),
never from what is stored or from the world size, so the batches stay a function of the documents and
the batch size: every run, resume and shard builds the same ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from mg_eval.api import SharingGenerator


def _ref_identity(value: Any) -> str | None:
    """Identity of one image value of a document: ImageRef path / bytes / base64 / dataset row."""
    path = getattr(value, "path", None)
    if isinstance(path, str):
        return "path:" + path
    data = getattr(value, "data", None)
    if isinstance(data, (bytes, bytearray)):
        return "sha:" + hashlib.sha256(data).hexdigest()
    b64 = getattr(value, "b64", None)
    if isinstance(b64, str):
        return "sha:" + hashlib.sha256(b64.encode()).hexdigest()
    if getattr(value, "dataset", None) is not None and callable(getattr(value, "read_bytes", None)):
        try:
            return "sha:" + hashlib.sha256(value.read_bytes()).hexdigest()
        except Exception:  # noqa: BLE001 - an unreadable image is reported when it is decoded
            return None
    return None


def doc_image_identity(doc: Mapping[str, Any]) -> str | None:
    """A string equal for documents with the same images (every image-valued field, by field name); None
    for a document without a recognisable image (it is then grouped with nothing)."""
    parts = []
    for field in sorted(doc):
        values = doc[field] if isinstance(doc[field], (list, tuple)) else [doc[field]]
        for position, value in enumerate(values):
            identity = _ref_identity(value)
            if identity is not None:
                parts.append(f"{field}[{position}]={identity}")
    return "|".join(parts) or None


def image_order(order: Sequence[int], identities: Sequence[str | None]) -> list[int]:
    """``order`` with the samples of each image moved up to the first sample of that image.

    Groups keep the position of their first member in ``order`` and their members keep their relative
    order; samples without an identity stay alone.
    """
    first_of: dict[str, int] = {}
    groups: list[list[int]] = []
    for index in order:
        identity = identities[index]
        if identity is None:
            groups.append([index])
        elif identity in first_of:
            groups[first_of[identity]].append(index)
        else:
            first_of[identity] = len(groups)
            groups.append([index])
    return [index for group in groups for index in group]


def configure_sharing(generator: Any, share: bool) -> bool:
    """Turn the generator's vision-feature cache + prefix sharing on/off; False if it has none."""
    if not isinstance(generator, SharingGenerator):
        return False
    generator.set_sharing(bool(share))
    return bool(share)
