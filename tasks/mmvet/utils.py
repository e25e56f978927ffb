"""MM-Vet prompts and per-sample records (scoring: ``scorer.py``, official grader + aggregation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as mmvet


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: the raw question. ``lmms``: ``{pre_prompt}{question}{post_prompt}``."""
    if prompt["style"] == "mgm":
        return doc["question"]
    return f"{prompt.get('pre_prompt', '')}{doc['question']}{prompt.get('post_prompt', '')}"


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (grading happens in aggregate)."""
    return mmvet.process_result(doc["doc_id"], response, doc["question"], doc["answer"], doc["capability"])
