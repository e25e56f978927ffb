"""HallusionBench prompts and per-sample records (scoring: ``scorer.py``, VLMEvalKit's yes/no extraction)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as hallusionbench


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """Both protocols: the question as it is (VLMEvalKit's ``ImageYORNDataset.build_prompt`` adds nothing for
    HallusionBench; lmms-eval ``hb_doc_to_text`` with its empty default pre / post prompts).
    """
    return prompt["pre_prompt"] + doc["question"] + prompt["post_prompt"]


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (rule extraction done here)."""
    return hallusionbench.process_result(doc["doc_id"], doc["index"], doc["question"], response, doc["answer"],
                                         doc["category"], doc["l2_category"])
