"""DocVQA prompts and per-sample records (scoring: ``scorer.py``, the official ANLS; test split: ``exports.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as docvqa

SUBMIT_TO = "mg-eval export RUN --format docvqa_test, then https://rrc.cvc.uab.es/?ch=17 (Task 1, DocVQA)"


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``{pre_prompt}{question}{post_prompt}`` (both protocols use the short-answer suffix)."""
    return f"{prompt.get('pre_prompt', '')}{doc['question']}{prompt['post_prompt']}"


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result`."""
    return docvqa.process_result(doc["doc_id"], doc["questionId"], response, doc["answers"])


def process_results_test(doc: Mapping, response: str) -> dict[str, Any]:
    """A test-split question (answers withheld): the id and the response, for the server's file."""
    return {"doc_id": str(doc["doc_id"]), "question_id": int(doc["questionId"]), "prediction": str(response)}


def aggregate_test(records: list[Mapping]) -> dict[str, Any]:
    """No score (answers withheld): ``anls`` / ``server_anls`` ``None`` (the server's number is added by hand,
    ``mg-eval results --add-server-score RUN --metric server_anls``) and ``submit_to``."""
    return {"server_anls": None, "anls": None, "n_questions": len(records), "answers": "withheld (test split)",
            "submit_to": SUBMIT_TO}


def no_target(doc: Mapping) -> None:
    """The test split has no answers."""
    return None
