"""AI2D prompts and per-sample records (scoring: ``scorer.py``, VLMEvalKit's MCQ matching shared with MMStar)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as ai2d


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``stem\\nA. a\\nB. b...`` + the post prompt, for both protocols: VLMEvalKit's LLaVA ``build_prompt``
    (``mgm``; a ``hint`` goes first on its own line) and lmms-eval ``ai2d_doc_to_text`` with ``prompt_format:
    mcq`` (``lmms``; the options joined the same way, no hint).
    """
    stem = doc["question"]
    if prompt["style"] == "mgm" and doc.get("hint") is not None:
        stem = f"{doc['hint']}\n{stem}"
    options = ai2d.options_of(doc)
    return stem + "".join(f"\n{letter}. {text}" for letter, text in options.items()) + prompt["post_prompt"]


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (rule matching done here)."""
    return ai2d.process_result(doc["doc_id"], int(doc["index"]), doc["question"], ai2d.options_of(doc), response,
                               doc["answer"], doc.get("category"))
