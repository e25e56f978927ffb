"""Synthetic detail-reading VQA: prompt and per-sample records (scoring: the official TextVQA metric)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..textvqa import scorer as textvqa


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``{question}\\nAnswer the question using a single word or phrase.`` (no OCR line: OCR would give the answer)."""
    return f"{doc['question']}{prompt['post_prompt']}"


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result`."""
    return textvqa.process_result(doc["doc_id"], response, list(doc["answers"]))


#: ``accuracy`` (0-100), ``accuracy_fraction`` and ``n_samples``: the official TextVQA metric.
aggregate = textvqa.aggregate
