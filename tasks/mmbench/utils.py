"""MMBench prompts and per-sample records (scoring: ``scorer.py``, the official CircularEval)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import scorer as mmbench

_MGM_OPTIONS = "ABCD"
_LMMS_OPTIONS = "ABCDE"


def _is_none(value: Any) -> bool:
    """MGM's ``is_none``: None, NaN, or the strings "nan"/"none" (any case)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.lower() in ("nan", "none")


def _not_na(value: Any) -> bool:
    """lmms-eval's ``pd.notna(v) and v != "nan"``."""
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != "nan"


def _mgm_text(doc: Mapping, prompt: Mapping) -> str:
    question = doc["question"]
    if not _is_none(doc.get("hint")):
        question = f"{doc['hint']}\n{question}"
    for letter in _MGM_OPTIONS:
        if letter not in doc or _is_none(doc[letter]):
            break  # options stop at the first empty one
        question += f"\n{letter}. {doc[letter]}"
    return f"{question}\n{prompt['post_prompt']}"


def _lmms_text(doc: Mapping, prompt: Mapping) -> str:
    options = {letter: doc[letter] for letter in _LMMS_OPTIONS if letter in doc and doc[letter]}
    options_prompt = f"{prompt['sys_prompt']}\n"
    for letter, text in sorted(options.items()):
        if _not_na(text):
            options_prompt += f"{letter}. {text}\n"
    options_prompt = options_prompt.rstrip("\n")
    hint = doc.get("hint")
    query = f"{hint} {doc['question']} {options_prompt}" if _not_na(hint) else f"{doc['question']} {options_prompt}"
    return f"{query}\n{prompt['post_prompt']}"


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: ``[hint\\n]question\\nA. a\\nB. b...\\nAnswer with the option's letter from the given choices
    directly.`` (options A-D up to the first empty one). ``lmms``: ``[hint ]question There are several
    options:\\nA. a\\nB. b\\n\\nAnswer with the option's letter from the given choices directly.``
    """
    return _mgm_text(doc, prompt) if prompt["style"] == "mgm" else _lmms_text(doc, prompt)


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (pass-1 rule matching done here)."""
    options = {letter: doc.get(letter) for letter in _MGM_OPTIONS if letter in doc}
    return mmbench.process_result(doc["doc_id"], int(doc["index"]), doc["question"], options, response,
                                  doc["answer"], category=doc.get("category") or "",
                                  l2_category=doc.get("L2-category") or "", split=doc.get("split") or "dev")


SUBMIT_TO = "mg-eval export RUN --format mmbench_en_test|mmbench_cn_test, then the OpenCompass MMBench server"


def process_results_test(doc: Mapping, response: str) -> dict[str, Any]:
    """A test-split row (no answer): the fields the submission file needs, nothing scored."""
    options = {letter: (None if _is_none(doc.get(letter)) else doc.get(letter)) for letter in _MGM_OPTIONS
               if letter in doc}
    return {"doc_id": doc["doc_id"], "index": int(doc["index"]), "question": doc["question"], "options": options,
            "prediction": str(response), "answer": None, "split": doc.get("split") or "test"}


def aggregate_test(records: list[Mapping]) -> dict[str, Any]:
    """No answers, no score here: ``accuracy`` is ``None`` and ``submit_to`` says where the server is."""
    return {"accuracy": None, "n_rows": len(records), "answers": "withheld (test split)", "submit_to": SUBMIT_TO}


def no_target(doc: Mapping) -> None:
    """The test split has no answer."""
    return None
