"""MathVista prompts and per-sample records (scoring: ``scorer.py``, official extract + score)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mg_eval.errors import DataError

from . import scorer as mathvista

_MC_HINT = "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end."
_FREE_HINTS = {
    "integer": "Hint: Please answer the question requiring an integer answer and provide the final value, "
               "e.g., 1, 2, 3, at the end.",
    "float1": "Hint: Please answer the question requiring a floating-point number with one decimal place and "
              "provide the final value, e.g., 1.2, 1.3, 1.4, at the end.",
    "float2": "Hint: Please answer the question requiring a floating-point number with two decimal places and "
              "provide the final value, e.g., 1.23, 1.34, 1.45, at the end.",
    "list": "Hint: Please answer the question requiring a Python list as an answer and provide the final list, "
            "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.",
}
_FORMAT_HINTS = {
    "multi_choice": "Answer with the option's letter from the given choices directly.",
    "integer": "Answer the question using a single integer number.",
    "float1": "Answer the question using a single floating-point number with one decimal place.",
    "float2": "Answer the question using a single floating-point number with two decimal places.",
    "list": "Answer the question using a Python list.",
}


def _answer_kind(doc: Mapping) -> str:
    """``multi_choice``, ``integer``, ``float1``, ``float2`` or ``list`` (the official hint selector)."""
    if doc["question_type"] == "multi_choice":
        return "multi_choice"
    answer_type, precision = doc["answer_type"], doc.get("precision")
    if answer_type == "float" and precision in (1, 2):
        return f"float{int(precision)}"
    if answer_type in ("integer", "list"):
        return answer_type
    raise DataError(f"MathVista problem {doc['doc_id']}: no official hint for answer_type {answer_type!r} "
                    f"with precision {precision!r}.")


def _hint(doc: Mapping, shot_type: str) -> str:
    kind = _answer_kind(doc)
    if shot_type == "format-prompt":
        return _FORMAT_HINTS[kind]
    return _MC_HINT if kind == "multi_choice" else _FREE_HINTS[kind]


def official_query(doc: Mapping) -> str:
    """The MathVista query (``build_query.py`` / MGM ``create_one_query`` with shot_type solution, zero-shot):
    ``Hint: ...\\nQuestion: {q}[ (Unit: u)][\\nChoices:\\n(A) c1\\n(B) c2...]``."""
    question = f"Question: {doc['question']}" + (f" (Unit: {doc['unit']})" if doc.get("unit") else "")
    choices = doc.get("choices")
    choices_text = "\n".join(["Choices:"] + [f"({chr(ord('A') + i)}) {c}" for i, c in enumerate(choices)]) if choices else ""
    return "\n".join(e for e in (_hint(doc, "solution"), question, choices_text) if e != "").strip()


def _lmms_query(doc: Mapping, shot_type: str) -> str:
    """lmms-eval ``create_one_query`` (zero-shot, no caption/OCR): question, choices, hint[, Solution: ]."""
    question = doc["question"] if shot_type == "format-prompt" else f"Question: {doc['question']}"
    question += f" (Unit: {doc['unit']})" if doc.get("unit") else ""
    choices = doc.get("choices")
    if not choices:
        choices_text = ""
    elif shot_type == "format-prompt":
        choices_text = "\n".join(f"{chr(ord('A') + i)}. {c}" for i, c in enumerate(choices))
    else:
        choices_text = "\n".join(["Choices:"] + [f"({chr(ord('A') + i)}) {c}" for i, c in enumerate(choices)])
    tail = "Solution: " if shot_type == "solution" else ""
    return "\n".join(e for e in (question, choices_text, _hint(doc, shot_type), tail) if e != "").strip()


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: :func:`official_query`. ``lmms``: lmms-eval's query for ``prompt['shot_type']``
    (``format-prompt`` / ``step-by-step`` / ``solution``)."""
    if prompt["style"] == "mgm":
        return official_query(doc)
    if prompt["shot_type"] not in ("format-prompt", "step-by-step", "solution"):
        raise DataError(f"MathVista: shot_type {prompt['shot_type']!r} is not one lmms-eval's tasks use.")
    return _lmms_query(doc, prompt["shot_type"])


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (rule extraction done here;
    the judge, if any, runs in :func:`aggregate`). The judge prompt uses the dataset's ``query`` when present,
    else :func:`official_query` (the same text ``query.json`` holds)."""
    problem = {key: doc.get(key) for key in ("question_type", "answer_type", "choices", "precision", "answer",
                                             "metadata", "unit")}
    problem["query"] = doc.get("query") or official_query(doc)
    return mathvista.process_result(doc["doc_id"], response, problem)
