"""MMStar scores as VLMEvalKit scores it (``ImageMCQDataset.evaluate`` -> ``mcq_vanilla_eval``, ``report_acc``).

* Matching (``vlmeval/utils/matching_util.py``), choices = the options present:
  :func:`can_infer_option`: a refusal string -> ``Z``; the characters ``.()[],:;!*#{}`` become spaces and the
  response is split on whitespace; exactly one option letter among the tokens, and its first occurrence among
  the last 5 tokens -> that letter; no option letter but a ``Z`` token -> ``Z``; else the verbose pattern
  ``(correct )answer is **X**`` (X in A-D, case-insensitive, X an option). :func:`can_infer_text`: if the
  response is at most twice as long as all option texts together, the one option text contained in the
  lower-cased response. ``can_infer`` = option, else text.
* A row the rules cannot match goes to the judge (:func:`build_judge_prompt`, VLMEvalKit's ``build_prompt``
  with ``Z`` as "none"), parsed with the same rules, up to 3 calls; then a random choice among the options
  and ``Z`` (VLMEvalKit draws unseeded; here a private ``random.Random(seed)``). Without a judge, VLMEvalKit's
  ``exact_matching`` policy applies: an unmatched row reads ``Z`` (wrong); ``n_unmatched`` counts them.
* ``hit`` = matched letter equals the answer; ``accuracy`` (Overall) = mean hit x 100, also per ``category``
  (6 core capabilities) and per ``l2_category`` (18 axes), as ``report_acc``.

The VLMEvalKit ``VERBOSE`` environment switch (an extra "A may be an article" rule) is not reproduced: scores
never depend on an environment variable; its default (unset) is what this module computes.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "index": int, "question": str (the stem), "options": {"A": str, ...}, "prediction": str,
     "answer": letter, "category": str, "l2_category": str, "prefetch": letter | None}
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from mg_eval.errors import DataError, JudgeError
from mg_eval.judges.base import for_run
from mg_eval.tasks.benchmark import read_declaration

__all__ = ["CAPABILITIES", "AXES", "split_options", "can_infer_option", "can_infer_text", "can_infer",
           "build_judge_prompt", "process_result", "aggregate"]

_CATEGORIES = read_declaration(Path(__file__).parent).categories
#: The 6 core capabilities and, per capability, its 3 axes (``l2_category``), as declared in benchmark.yaml.
CAPABILITIES: tuple[str, ...] = _CATEGORIES["capabilities"]
AXES: dict[str, tuple[str, ...]] = {c: _CATEGORIES[c] for c in CAPABILITIES}
JUDGE_TRIES = 3
JUDGE_TEMPERATURE = 0.0  # VLMEvalKit OpenAIWrapper defaults: temperature 0, max_tokens 2048
JUDGE_MAX_TOKENS = 2048
DEFAULT_SEED = 0
_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
             "I'm sorry, but without the image provided", "Cannot determine the answer")
_API_FAILURE = "Failed to obtain answer via API"
_STRIPPED = ".()[],:;!*#{}"
_VERBOSE = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
_OPTIONS_MARK = "\nOptions: "
_JUDGE_TEMPLATE = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice "
    "question. You are provided with a question, several options, and an answer, and you need to find which "
    "option is most similar to the answer. If the meaning of all options are significantly different from the "
    "answer, output Z. Your should output a single uppercase character in A, B, C, D (if they are valid "
    "options), and Z. \nExample 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\nExample 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: Z\nExample 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)


def split_options(question: str) -> tuple[str, dict[str, str]]:
    """``(stem, {"A": text, ...})`` from a hub question ``stem\\nOptions: A: a, B: b, C: c, D: d``.

    Option texts may hold commas; each option ends where ``, <next letter>: `` starts.

    Raises:
        DataError: no ``Options:`` line or not starting with ``A: ``.
    """
    stem, mark, rest = question.rpartition(_OPTIONS_MARK)
    if not mark or not rest.startswith("A: "):
        raise DataError(f"MMStar question {question[:60]!r}: expected '...\\nOptions: A: ..., B: ...'.")
    options: dict[str, str] = {}
    letter, text = "A", rest[3:]
    while True:
        nxt = chr(ord(letter) + 1)
        head, sep, tail = text.partition(f", {nxt}: ")
        options[letter] = head
        if not sep:
            return stem, options
        letter, text = nxt, tail


def _count(tokens: list[str], letters: Iterable[str]) -> int:
    return sum(1 for letter in letters if letter in tokens)


def can_infer_option(answer: str, options: Mapping[str, str]) -> str | None:
    """VLMEvalKit ``can_infer_option`` (default ``VERBOSE`` unset): a letter of ``options``, ``"Z"`` or None."""
    if _API_FAILURE in answer:
        return None
    if any(refusal in answer for refusal in _REFUSALS):
        return "Z"
    cleaned = answer
    for char in _STRIPPED:
        cleaned = cleaned.replace(char, " ")
    tokens = [token.strip() for token in cleaned.split()]
    count = _count(tokens, options)
    if count == 1:
        for letter in options:
            if letter in tokens and tokens.index(letter) > len(tokens) - 5:
                return letter
    elif count == 0 and "Z" in tokens:
        return "Z"
    match = _VERBOSE.search(answer or "")
    if match and match.group(1).upper() in options:
        return match.group(1).upper()
    return None


def can_infer_text(answer: str, options: Mapping[str, str]) -> str | None:
    """VLMEvalKit ``can_infer_text``: the one option text inside the lower-cased answer (length-capped)."""
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(text)) for text in options.values()):
        return None
    hits = [letter for letter, text in options.items() if str(text).lower() in answer]
    return hits[0] if len(hits) == 1 else None


def can_infer(answer, options: Mapping[str, str]) -> str | None:
    """VLMEvalKit ``can_infer``: :func:`can_infer_option`, else :func:`can_infer_text` (on ``str(answer)``)."""
    answer = str(answer)
    return can_infer_option(answer, options) or can_infer_text(answer, options)


def build_judge_prompt(question: str, options: Mapping[str, str], prediction: str) -> str:
    """VLMEvalKit's ``build_prompt`` with ``build_option_str`` (``There are several options: \\nA. x\\n...``)."""
    option_str = "There are several options: \n" + "".join(f"{k}. {v}\n" for k, v in options.items())
    return _JUDGE_TEMPLATE.format(question, option_str, prediction)


def process_result(doc_id: str, index: int, question: str, options: Mapping[str, str], prediction: str,
                   answer: str, category: str, l2_category: str) -> dict:
    """Per-sample record for one MMStar question; runs the rule matching.

    Raises:
        DataError: an answer that is not one of the options, or an unknown capability / axis.
    """
    if answer not in options:
        raise DataError(f"MMStar question {index}: answer {answer!r} is not one of the options {sorted(options)}.")
    if category not in AXES or l2_category not in AXES[category]:
        raise DataError(f"MMStar question {index}: unknown category/l2_category {category!r}/{l2_category!r}; "
                        f"expected one of tasks/mmstar/benchmark.yaml's categories.")
    prediction = str(prediction)
    return {"doc_id": str(doc_id), "index": int(index), "question": question, "options": dict(options),
            "prediction": prediction, "answer": answer, "category": category, "l2_category": l2_category,
            "prefetch": can_infer(prediction, options)}


def _judge_row(record: Mapping, judge, rng: random.Random, stats: dict) -> str:
    """VLMEvalKit ``extract_answer_from_item`` after the rules failed. Raises JudgeError."""
    prompt = build_judge_prompt(record["question"], record["options"], record["prediction"])
    for attempt in range(JUDGE_TRIES):
        stats["n_judge_calls"] += 1
        reply = for_run(judge, attempt).complete(prompt, max_tokens=JUDGE_MAX_TOKENS, temperature=JUDGE_TEMPERATURE)
        letter = None if _API_FAILURE in reply else can_infer(reply, record["options"])
        if letter:
            return letter
    stats["n_random_fallback"] += 1
    return rng.choice([*record["options"], "Z"])


def _mean_by(hits: list[tuple[Mapping, int]], field: str) -> dict[str, float]:
    groups: dict[str, list[int]] = {}
    for record, hit in hits:
        if record.get(field) is not None:  # a dataset without the column (AI2D has no l2-category) reports none
            groups.setdefault(record[field], []).append(hit)
    return {name: 100.0 * sum(values) / len(values) for name, values in sorted(groups.items())}


def aggregate(records: Iterable[Mapping], judge=None, seed: int = DEFAULT_SEED) -> dict:
    """Overall, per-capability and per-axis accuracy (percent) from the records, rows in index order.

    Returns:
        ``{"accuracy", "category": {capability: %}, "l2_category": {axis: %}, "n_questions", "n_unmatched",
        "n_ungraded", "n_judge_calls", "n_judged_rows", "n_random_fallback", "n_judge_errors",
        "per_sample": {doc_id: 0 | 1 | None}}``; ``n_ungraded`` counts rows whose judge call failed
        (left out of every score).
    """
    rows = sorted(records, key=lambda record: record["index"])
    if not rows:
        raise DataError("MMStar: no records to aggregate.")
    rng = random.Random(seed)
    stats = {"n_judge_calls": 0, "n_judged_rows": 0, "n_random_fallback": 0, "n_judge_errors": 0}
    per_sample: dict[str, int | None] = {}
    hits: list[tuple[Mapping, int]] = []
    for row in rows:
        letter = row["prefetch"]
        if not letter and judge is not None:
            try:
                letter = _judge_row(row, judge, rng, stats)
                stats["n_judged_rows"] += 1
            except JudgeError:
                stats["n_judge_errors"] += 1
                per_sample[row["doc_id"]] = None
                continue
        hit = int(letter == row["answer"])  # exact_matching: an unmatched row reads Z
        per_sample[row["doc_id"]] = hit
        hits.append((row, hit))
    return {
        "accuracy": 100.0 * sum(hit for _, hit in hits) / len(hits) if hits else None,
        "category": _mean_by(hits, "category"),
        "l2_category": _mean_by(hits, "l2_category"),
        "n_questions": len(rows),
        "n_unmatched": sum(1 for row in rows if not row["prefetch"]),
        "n_ungraded": stats["n_judge_errors"],
        **stats,
        "per_sample": per_sample,
    }
