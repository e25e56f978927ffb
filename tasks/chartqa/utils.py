"""ChartQA prompts and per-sample records (scoring: ``scorer.py``, the official relaxed accuracy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as chartqa


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``{pre_prompt}{question}{post_prompt}`` (both protocols; they differ in the post prompt only)."""
    return f"{prompt.get('pre_prompt', '')}{doc['question']}{prompt['post_prompt']}"


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result`."""
    return chartqa.process_result(doc["doc_id"], doc["type"], response, doc["answer"])
