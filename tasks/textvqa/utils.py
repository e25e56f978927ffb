"""TextVQA prompts and per-sample records (scoring: ``scorer.py``, the official M4C evaluator)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mg_eval.errors import DataError

from . import scorer as textvqa


def _ocr_line(doc: Mapping) -> str:
    tokens = doc.get("ocr_tokens")
    if tokens is None:
        raise DataError(f"TextVQA question {doc['doc_id']}: no OCR tokens; the mgm protocol needs them. Put "
                        f"TextVQA_Rosetta_OCR_v0.2_val.json next to the annotation file, or use --protocol lmms.")
    return f"\nReference OCR token: {', '.join(tokens)}" if tokens else ""


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: ``{question}[\\nReference OCR token: a, b]\\nAnswer the question using a single word or phrase.``
    (the line is dropped when there are no tokens). ``lmms``: ``{pre}{question.capitalize()}{ocr?}{post}``
    (``str.capitalize`` lower-cases the rest of the question, as lmms-eval does).
    """
    if prompt["style"] == "mgm":
        return f"{doc['question']}{_ocr_line(doc)}{prompt['post_prompt']}"
    ocr = _ocr_line(doc) if prompt.get("ocr") else ""
    return f"{prompt.get('pre_prompt', '')}{doc['question'].capitalize()}{ocr}{prompt['post_prompt']}"


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result`."""
    return textvqa.process_result(doc["doc_id"], response, list(doc["answers"]))
