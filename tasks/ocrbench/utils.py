"""OCRBench prompts and per-sample records (scoring: ``scorer.py``, VLMEvalKit's substring rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as ocrbench


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: the question as it is (VLMEvalKit's ``ImageBaseDataset.build_prompt``: LLaVA models use no
    custom prompt for VQA datasets); ``lmms``: lmms-eval ``ocrbench_doc_to_text``: ``question.strip()``.
    """
    question = doc["question"].strip() if prompt["style"] == "lmms" else doc["question"]
    return prompt["pre_prompt"] + question + prompt["post_prompt"]


def doc_to_target(doc: Mapping) -> list[str]:
    """The accepted answers."""
    return list(doc["answers"])


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (the substring match is done here)."""
    return ocrbench.process_result(doc["doc_id"], int(doc["index"]), doc["category"], doc["answers"], response)
