"""POPE prompts and per-sample records (scoring: ``scorer.py``, LLaVA's ``eval_pope.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as pope


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: ``question + "\\nAnswer the question using a single word or phrase."`` (the text of LLaVA-1.5's
    ``llava_pope_test.jsonl``); ``lmms``: the same after ``question.strip()`` (lmms-eval ``pope_doc_to_text``).
    """
    question = doc["question"] if prompt["style"] == "mgm" else doc["question"].strip()
    return question + prompt["post_prompt"]


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result`."""
    return pope.process_result(doc["doc_id"], doc["category"], doc["answer"], response)
