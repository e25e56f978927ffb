"""MMStar prompts and per-sample records (scoring: ``scorer.py``, VLMEvalKit's MCQ matching)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import scorer as mmstar


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: the LLaVA-1.5 MCQ prompt (VLMEvalKit's LLaVA ``build_prompt``): ``stem\\nA. a\\nB. b...\\nAnswer
    with the option's letter from the given choices directly.``; ``lmms``: lmms-eval ``mmstar_doc_to_text``:
    the hub question as it is (options inline), stripped, then the post prompt.
    """
    if prompt["style"] == "lmms":
        return doc["question"].strip() + prompt["post_prompt"]
    stem, options = mmstar.split_options(doc["question"])
    return stem + "".join(f"\n{letter}. {text}" for letter, text in options.items()) + prompt["post_prompt"]


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (rule matching done here)."""
    stem, options = mmstar.split_options(doc["question"])
    return mmstar.process_result(doc["doc_id"], int(doc["index"]), stem, options, response, doc["answer"],
                                 doc["category"], doc["l2_category"])
