"""MME prompts and per-sample records (scoring: ``scorer.py``, the official eval_tool calculation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as mme


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: the question with `` Please answer yes or no.`` replaced by the short-answer instruction.
    ``lmms``: the same after ``question.strip()``, with ``pre_prompt`` in front (lmms-eval ``mme_doc_to_text``).
    """
    if prompt["style"] == "mgm":
        return doc["question"].replace(prompt["remove"], "") + prompt["post_prompt"]
    question = doc["question"].strip()
    if prompt.get("pre_prompt"):
        question = prompt["pre_prompt"] + question.replace(prompt["remove"], "")
    if prompt.get("post_prompt"):
        question = question.replace(prompt["remove"], "") + prompt["post_prompt"]
    return question


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (the image pairs the two questions)."""
    return mme.process_result(doc["doc_id"], doc["category"], str(doc["question_id"]), doc["answer"], response)
