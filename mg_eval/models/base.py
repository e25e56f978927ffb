"""Helpers shared by model adapters (the ``Generator`` protocol itself is defined in :mod:`mg_eval.api`).

Batch invariance (what a user can rely on):

* **Greedy and beam search without sampling** are deterministic. Samples are batched with left
  padding and an attention mask, so a sample's output does not depend on its neighbours in exact
  arithmetic; in floating point a different batch shape can flip a rare near-tie (LLaVA#1928: 2 of
  2374 MME answers). The engine therefore fixes batch composition from the task's documents and the
  batch size alone (``mg_eval.engine.runner.plan_batches``): the same command gives the same batches
  under 1 or N processes and after a resume, hence bit-identical outputs. Changing ``--batch-size``
  may change rare answers; the batch size is recorded in ``results.json``.
* **Sampling** (``do_sample=True``, e.g. MMMU: 5 beams, T=1, seed 42) runs each sample alone after
  seeding torch with a per-sample seed derived from the task seed and the ``doc_id``. The output is
  then independent of batch composition, sharding and resume (on the same device and library versions).
"""

from __future__ import annotations

import hashlib
from typing import Any

from mg_eval.api import GENERATION_KEYS, Generator

__all__ = ["GENERATION_KEYS", "Generator", "cut_at_stops", "hf_generation_kwargs", "sample_seed"]


def sample_seed(task_seed: int | None, doc_id: str) -> int:
    """Per-sample seed: a stable 31-bit function of the task seed and ``doc_id`` (not of batch or rank)."""
    digest = hashlib.sha256(f"{task_seed if task_seed is not None else 0}:{doc_id}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def hf_generation_kwargs(generation: dict[str, Any]) -> dict[str, Any]:
    """Map a task's generation dict to ``model.generate`` kwargs (greedy drops temperature/top_p)."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": int(generation.get("max_new_tokens", 128)),
        "num_beams": int(generation.get("num_beams") or 1),
        "do_sample": bool(generation.get("do_sample", False)),
    }
    if kwargs["do_sample"]:
        if generation.get("temperature") is not None:
            kwargs["temperature"] = float(generation["temperature"])
        if generation.get("top_p") is not None:
            kwargs["top_p"] = float(generation["top_p"])
    return kwargs


def cut_at_stops(text: str, stops: list[str]) -> str:
    """Drop everything from the first stop string on (generate may emit the stop itself)."""
    cut = len(text)
    for stop in stops:
        index = text.find(stop)
        if index >= 0:
            cut = min(cut, index)
    return text[:cut]
