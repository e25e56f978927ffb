"""MMMU prompts and per-sample records (scoring: ``scorer.py``, the official eval_utils flow)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from PIL import Image

from mg_eval.errors import DataError
from mg_eval.tasks.loaders import open_image

from . import scorer as mmmu

MULTIPLE_CHOICE = "multiple-choice"
_IMAGE_TAG = re.compile(r"<image \d+>")


def _options(doc: Mapping) -> list[str]:
    """``options`` is the string repr of a list in MMMU/MMMU (parsed literally, never ``eval``'d)."""
    options = doc["options"]
    if isinstance(options, str):
        try:
            options = ast.literal_eval(options)
        except (ValueError, SyntaxError) as exc:
            raise DataError(f"MMMU question {doc['doc_id']}: 'options' is not a list literal: {options!r:.80}") from exc
    return [str(option) for option in options]


def _letters(options: list[str]) -> list[str]:
    return [chr(ord("A") + i) for i in range(len(options))]


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """``mgm``: ``{question}\\n(A) a\\n(B) b\\n\\nAnswer with the option's letter ...`` (the llava1.5.yaml
    formats; open: ``{question}\\nAnswer the question using a single word or phrase.``).
    ``lmms``: ``{question}\\nA. a\\nB. b\\n\\n{mc prompt}`` / ``{question}\\n\\n{open prompt}``.
    ``<image k>`` tags stay in the text in both.
    """
    question = doc["question"]
    multiple_choice = doc["question_type"] == MULTIPLE_CHOICE
    if prompt["style"] == "mgm":
        if multiple_choice:
            example = "".join(f"({letter}) {option}\n" for letter, option in zip(_letters(_options(doc)), _options(doc)))
            text = prompt["multi_choice_example_format"].format(question, example)
        else:
            text = prompt["short_ans_example_format"].format(question)
        instructions = prompt.get("task_instructions") or ""
        return f"{instructions.strip()}\n\n{text}" if instructions else text
    if multiple_choice:
        options = "\n".join(f"{letter}. {option}" for letter, option in zip(_letters(_options(doc)), _options(doc)))
        return f"{question}\n{options}\n\n{prompt['multiple_choice_prompt']}"
    return f"{question}\n\n{prompt['open_ended_prompt']}"


def doc_to_visual(doc: Mapping, prompt: Mapping) -> list[Image.Image]:
    """``mgm``: ``[image_1]`` (the official runner feeds only the first image). ``lmms``: ``image_k`` for the
    sorted unique ``<image k>`` tags of the question and options."""
    if prompt["style"] == "mgm":
        return [open_image(doc["image_1"])] if doc.get("image_1") is not None else []
    text = doc["question"] + "\n" + "\n".join(_options(doc)) if doc["question_type"] == MULTIPLE_CHOICE else doc["question"]
    columns = sorted({tag.strip("<>").replace(" ", "_") for tag in _IMAGE_TAG.findall(text)})
    missing = [c for c in columns if doc.get(c) is None]
    if missing:
        raise DataError(f"MMMU question {doc['doc_id']}: the text references {missing} but those images are empty.")
    return [open_image(doc[column]) for column in columns]


def doc_to_target(doc: Mapping) -> str | list[str]:
    """The gold answer; a list literal (``"['24/7', '3.429']"``, as the hub stores the 3 list answers) becomes
    the real list the official ``answer_dict_val.json`` holds."""
    answer = doc["answer"]
    if isinstance(answer, str) and answer.startswith("[") and answer.endswith("]"):
        try:
            parsed = ast.literal_eval(answer)
        except (ValueError, SyntaxError):
            return answer
        if isinstance(parsed, list):
            return [str(item) for item in parsed]
    return list(answer) if isinstance(answer, (list, tuple)) else str(answer)


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result` (random fallbacks drawn in aggregate)."""
    if doc["question_type"] == MULTIPLE_CHOICE:
        options = _options(doc)
        letters = _letters(options)
        return mmmu.process_result(doc["id"], doc["question_type"], response, doc_to_target(doc),
                                   all_choices=letters, index2ans=dict(zip(letters, options)))
    return mmmu.process_result(doc["id"], doc["question_type"], response, doc_to_target(doc))


SUBMIT_TO = "mg-eval export RUN --format mmmu_test, then https://eval.ai/web/challenges/challenge-page/2179"


def process_results_test(doc: Mapping, response: str) -> dict[str, Any]:
    """A test-split question (answer withheld): parsed as :func:`process_results` does, against a ``?`` answer."""
    return process_results({**doc, "answer": "?"}, response)


def aggregate_test(records: list[Mapping]) -> dict[str, Any]:
    """No score (answers withheld): the final predictions (random fallbacks drawn as for validation, seed 42, in
    the official order) under ``per_sample``, ``accuracy`` / ``server_accuracy`` ``None`` (the latter is filled by
    hand with the server's number: ``mg-eval results --add-server-score``) and ``submit_to``."""
    drawn = mmmu.aggregate(records)
    return {"server_accuracy": None, "accuracy": None, "n_samples": drawn["n_samples"], "n_random_fallback": drawn["n_random_fallback"],
            "answers": "withheld (test split)", "submit_to": SUBMIT_TO,
            "per_sample": {doc_id: {"pred": detail["pred"], "random": detail["random"]}
                           for doc_id, detail in drawn["per_sample"].items()}}


def no_target(doc: Mapping) -> None:
    """The test split has no answer."""
    return None
