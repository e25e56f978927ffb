"""HallusionBench scores as VLMEvalKit scores it (``vlmeval/dataset/image_yorn.py``, ``ImageYORNDataset.evaluate``
with ``vlmeval/dataset/utils/yorn.py``: ``YOrN_Extraction``, ``YOrN_auxeval``, ``Hallusion_rating``).

* Extraction (:func:`extract_yes_no`): the response lower-cased and put through VLMEvalKit's
  ``process_punctuation`` (:func:`process_punctuation`), split on whitespace; ``yes`` among the words and not
  ``no`` -> ``Yes``, the reverse -> ``No``, else ``Unknown``.
* ``Unknown`` rows go to the judge when there is one (:func:`build_judge_prompt`, up to 5 calls at temperature
  0, 0.5, 1.0, 1.5, 2.0, each reply extracted the same way); without a judge (VLMEvalKit's ``exact_matching``)
  they stay ``Unknown`` (wrong). ``hit`` = extracted equals the answer (``Yes`` / ``No``).
* ``aAcc`` = mean hit; ``fAcc`` = share of figures all of whose questions are right (figure key
  ``<l2-category>_<set_id>_<figure_id>``); ``qAcc`` = share of questions right on every figure they are asked
  about (key ``<l2-category>_<set_id>_<question_id>``); set, figure and question ids are the 4th-6th
  ``_``-separated fields of ``index``. The keys leave out ``category`` (VD / VS), as VLMEvalKit's do. All x100,
  overall, per ``category`` and per ``l2_category``. ``overall`` = mean of the three (the OpenVLM
  leaderboard's HallusionBench number).

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "index": str, "question": str, "prediction": str, "answer": "Yes" | "No", "category": str,
     "l2_category": str, "figure_key": str, "question_key": str, "prefetch": "Yes" | "No" | None}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from mg_eval.errors import DataError, JudgeError
from mg_eval.tasks.benchmark import read_declaration

__all__ = ["CATEGORIES", "SUBCATEGORIES", "process_punctuation", "extract_yes_no", "build_judge_prompt",
           "split_index", "process_result", "aggregate"]

_DECLARED = read_declaration(Path(__file__).parent).categories
CATEGORIES: tuple[str, ...] = _DECLARED["categories"]
SUBCATEGORIES: tuple[str, ...] = _DECLARED["subcategories"]
UNKNOWN = "Unknown"
JUDGE_TRIES = 5
JUDGE_TEMPERATURE_STEP = 0.5  # VLMEvalKit YOrN_auxeval: temperature 0.5 * attempt
JUDGE_MAX_TOKENS = 2048  # VLMEvalKit OpenAIWrapper default
_PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
                "?", "!")
_COMMA_BETWEEN_DIGITS = re.compile(r"(\d)(,)(\d)")
_PERIOD_NOT_IN_NUMBER = re.compile(r"(?<!\d)\.(?!\d)")
_PERIOD_REMOVAL_CAP = int(re.UNICODE)  # the official code passes re.UNICODE (32) as `count`
_JUDGE_TEMPLATE = (
    "You are an AI assistant who will help me to match an answer with two options of a question. "
    "The options are only Yes / No. "
    "You are provided with a question and an answer, "
    "and you need to find which option (Yes / No) is most similar to the answer. "
    "If the meaning of all options are significantly different from the answer, output Unknown. "
    "Your should output a single word among the following 3 choices: Yes, No, Unknown.\n"
    "Example 1: \n"
    "Question: Is the word in this image 'Hello'?\nAnswer: The word in this image is 'Hello'.\nYour output: Yes\n"
    "Example 2: \n"
    "Question: Is the word in this image 'Hello'?\n"
    "Answer: The word in this image is not 'Hello'.\nYour output: No\n"
    "Example 3: \n"
    "Question: {}?\nAnswer: {}\nYour output: "
)


def process_punctuation(text: str) -> str:
    """VLMEvalKit ``process_punctuation``: each mark is deleted when it touches a space anywhere in ``text`` (or
    ``text`` has a digit-comma-digit), else replaced by a space; then at most 32 periods not next to a digit go.
    """
    out = text
    has_number_comma = _COMMA_BETWEEN_DIGITS.search(text) is not None
    for mark in _PUNCTUATION:
        if mark + " " in text or " " + mark in text or has_number_comma:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_NOT_IN_NUMBER.sub("", out, count=_PERIOD_REMOVAL_CAP)


def extract_yes_no(response: str) -> str:
    """VLMEvalKit ``YOrN_Extraction``: ``"Yes"``, ``"No"`` or ``"Unknown"``."""
    words = process_punctuation(response.lower()).split()
    if "yes" in words and "no" not in words:
        return "Yes"
    if "yes" not in words and "no" in words:
        return "No"
    return UNKNOWN


def build_judge_prompt(question: str, prediction: str) -> str:
    """VLMEvalKit ``YOrN_match_prompt``."""
    return _JUDGE_TEMPLATE.format(question, prediction)


def split_index(index: str) -> tuple[str, str, str]:
    """``(set_id, figure_id, question_id)``: the 4th, 5th and 6th ``_``-separated fields of ``index``.

    Raises:
        DataError: fewer than 6 fields.
    """
    parts = str(index).split("_")
    if len(parts) < 6:
        raise DataError(f"HallusionBench index {index!r}: expected '<category>_<subcategory>_<visual input>_<set>_"
                        "<figure>_<question>' (VLMEvalKit's HallusionBench.tsv).")
    return parts[3], parts[4], parts[5]


def process_result(doc_id: str, index: str, question: str, prediction, answer: str, category: str,
                   l2_category: str) -> dict:
    """Per-sample record for one question; runs the rule extraction.

    Raises:
        DataError: an answer other than Yes / No, an unknown category, a malformed index.
    """
    if answer not in ("Yes", "No"):
        raise DataError(f"HallusionBench question {index}: answer {answer!r} is not 'Yes' or 'No'.")
    if category not in CATEGORIES:
        raise DataError(f"HallusionBench question {index}: unknown category {category!r}; expected one of "
                        f"{list(CATEGORIES)} (tasks/hallusionbench/benchmark.yaml).")
    set_id, figure_id, question_id = split_index(index)
    prediction = str(prediction)
    extracted = extract_yes_no(prediction)
    return {"doc_id": str(doc_id), "index": str(index), "question": str(question), "prediction": prediction,
            "answer": answer, "category": category, "l2_category": str(l2_category),
            "figure_key": f"{l2_category}_{set_id}_{figure_id}", "question_key": f"{l2_category}_{set_id}_{question_id}",
            "prefetch": None if extracted == UNKNOWN else extracted}


def _judge_row(record: Mapping, judge, stats: dict) -> str:
    """VLMEvalKit ``YOrN_auxeval`` for a row the rule left ``Unknown``. Raises JudgeError."""
    prompt = build_judge_prompt(record["question"], record["prediction"])
    for attempt in range(JUDGE_TRIES):
        stats["n_judge_calls"] += 1
        reply = judge.complete(prompt, max_tokens=JUDGE_MAX_TOKENS, temperature=JUDGE_TEMPERATURE_STEP * attempt)
        extracted = extract_yes_no(reply)
        if extracted != UNKNOWN:
            return extracted
    return UNKNOWN


def _all_of(hits: list[tuple[Mapping, int]], key: str) -> float:
    groups: dict[str, bool] = {}
    for record, hit in hits:
        groups[record[key]] = groups.get(record[key], True) and bool(hit)
    return 100.0 * sum(groups.values()) / len(groups)


def _three(hits: list[tuple[Mapping, int]]) -> dict[str, float]:
    return {"aAcc": 100.0 * sum(hit for _, hit in hits) / len(hits), "fAcc": _all_of(hits, "figure_key"),
            "qAcc": _all_of(hits, "question_key")}


def _by(hits: list[tuple[Mapping, int]], field: str) -> dict[str, dict[str, float]]:
    names = sorted({record[field] for record, _ in hits})
    return {name: _three([(r, h) for r, h in hits if r[field] == name]) for name in names}


def aggregate(records: Iterable[Mapping], judge=None) -> dict:
    """aAcc, fAcc, qAcc (percent) overall, per category and per subcategory, and their mean ``overall``.

    Returns:
        ``{"overall", "aAcc", "fAcc", "qAcc", "category": {name: {aAcc, fAcc, qAcc}}, "l2_category": {...},
        "n_questions", "n_unmatched", "n_ungraded", "n_judge_calls", "n_judged_rows", "n_judge_errors",
        "per_sample": {doc_id: 0 | 1 | None}}``; a row whose judge call failed is ungraded (left out).
    """
    rows = list(records)
    if not rows:
        raise DataError("HallusionBench: no records to aggregate.")
    stats = {"n_judge_calls": 0, "n_judged_rows": 0, "n_judge_errors": 0}
    per_sample: dict[str, int | None] = {}
    hits: list[tuple[Mapping, int]] = []
    for row in rows:
        extracted = row["prefetch"] or UNKNOWN
        if extracted == UNKNOWN and judge is not None:
            try:
                extracted = _judge_row(row, judge, stats)
                stats["n_judged_rows"] += 1
            except JudgeError:
                stats["n_judge_errors"] += 1
                per_sample[row["doc_id"]] = None
                continue
        hit = int(extracted == row["answer"])
        per_sample[row["doc_id"]] = hit
        hits.append((row, hit))
    three = _three(hits) if hits else {"aAcc": None, "fAcc": None, "qAcc": None}
    overall = None if not hits else sum(three.values()) / 3
    return {"overall": overall, **three, "category": _by(hits, "category"), "l2_category": _by(hits, "l2_category"),
            "n_questions": len(rows), "n_unmatched": sum(1 for row in rows if not row["prefetch"]),
            "n_ungraded": stats["n_judge_errors"], **stats, "per_sample": per_sample}
