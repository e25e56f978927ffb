"""MMBench (dev) CircularEval exactly as the official evaluator (opencompass ``tools/eval_mmbench.py``).

* Every row is a separate inference; a question with n options appears n times, the copies having
  ``index = original + k * 1e6`` with rotated options. Rows are grouped by ``index % 1e6``; only rows with
  ``index < 1e6`` are "main" questions, and a main question is a hit only if every row of its group is right.
* Pass 1 (no LLM), rows in index order: :func:`can_infer` (option letter, else a unique option text in the
  answer). The first row inferred and wrong -> miss, no LLM call.
* Pass 2: each row not inferred goes to the LLM choice extractor (:func:`build_judge_prompt`, official text),
  whose output is parsed with :func:`can_infer`, up to 3 tries; after 3 unparsable outputs a random letter is
  drawn (``randint`` over the option columns present plus ``E``) from one ``random.Random(2680)`` shared
  by the whole evaluation, in the official order. The first wrong row -> miss.
* Scores: Overall = mean hit over main questions (x100), also per ``split``, per ``l2-category`` and per
  ``category``.

Without a judge, groups that need pass 2 are counted in ``n_ungraded`` and left out of every score.
``E`` ("none of them") is always a miss.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "index": int, "question": str, "options": {"A": str, "B": str, ...} (the option columns
     present; value None where the cell is empty), "prediction": str, "answer": letter,
     "category": str, "l2_category": str, "split": str, "prefetch": letter | None}
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable, Mapping

from mg_eval.errors import DataError, JudgeError
from mg_eval.judges.base import for_run

__all__ = [
    "CIRCULAR_OFFSET",
    "OFFICIAL_SEED",
    "can_infer_option",
    "can_infer_text",
    "can_infer",
    "build_option_str",
    "build_judge_prompt",
    "process_result",
    "aggregate",
]

CIRCULAR_OFFSET = 1_000_000
OFFICIAL_SEED = 2680
JUDGE_TRIES = 3
JUDGE_TEMPERATURE = 0.7  # the opencompass OpenAI wrapper default the official evaluator ran with
JUDGE_MAX_TOKENS = 512
_CANDIDATES = "ABCDE"
_OPTION_LETTERS = "ABCD"
# (prefix, suffix) patterns tried in this order after the bare-letter rule.
_PATTERNS = (("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."), (":", ""),
             (":", ","), (":", "."), (":", ")"), (":", ")."))
_API_FAILURE = "Failed to obtain answer via API"

_JUDGE_TEMPLATE = (
    "You are an AI assistant who will help me to match an answer with several options of a single-choice "
    "question. You are provided with a question, several options, and an answer, and you need to find which "
    "option is most similar to the answer. If the meaning of all options are significantly different from the "
    "answer, output E. Your should output a single uppercase character in A, B, C, D (if they are valid "
    "options), and E. \n"
    "Example 1: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: a cute teddy bear\nYour output: A\n"
    "Example 2: \n"
    "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n"
    "Answer: Spider\nYour output: E\n"
    "Example 3: \n"
    "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: "
)


def _count(tokens: list[str], prefix: str = "", suffix: str = "") -> int:
    return sum(1 for letter in _CANDIDATES if prefix + letter + suffix in tokens)


def can_infer_option(answer: str) -> str | None:
    """Official ``can_infer_option``: an option letter A-E read from whitespace tokens, else ``None``."""
    if _API_FAILURE in answer:
        return None
    tokens = [token.strip() for token in answer.split()]
    if _count(tokens) == 1 and not ("A" in tokens and len(tokens) > 3):
        return next(letter for letter in _CANDIDATES if letter in tokens)
    for prefix, suffix in _PATTERNS:
        if _count(tokens, prefix, suffix) == 1:
            return next(letter for letter in _CANDIDATES if prefix + letter + suffix in tokens)
    return None


def can_infer_text(answer: str, options: Mapping[str, str | None]) -> str | None:
    """Official ``can_infer_text``: the one option whose (lower-cased) text occurs in the answer."""
    answer = answer.lower()
    hits = [letter for letter, text in options.items() if _present(text) and str(text).lower() in answer]
    return hits[0] if len(hits) == 1 else None


def can_infer(answer: str, options: Mapping[str, str | None]) -> str | None:
    """Official ``can_infer``: :func:`can_infer_option`, else :func:`can_infer_text`."""
    return can_infer_option(answer) or can_infer_text(answer, options)


def _present(value) -> bool:
    return value is not None and value == value  # NaN != NaN


def build_option_str(options: Mapping[str, str | None]) -> str:
    """Official ``build_option_str``: ``There are several options: \\nA. x\\nB. y\\n`` up to the first empty."""
    text = "There are several options: \n"
    for letter in _OPTION_LETTERS:
        value = options.get(letter)
        if not _present(value):
            break
        text += f"{letter}. {value}\n"
    return text


def build_judge_prompt(question: str, options: Mapping[str, str | None], prediction: str) -> str:
    """The official choice-extraction prompt (bare question, ``?`` appended even if present)."""
    return _JUDGE_TEMPLATE.format(question, build_option_str(options), prediction)


def process_result(
    doc_id: str,
    index: int,
    question: str,
    options: Mapping[str, str | None],
    prediction: str,
    answer: str,
    category: str = "",
    l2_category: str = "",
    split: str = "dev",
) -> dict:
    """Per-sample record for one MMBench row (main question or circular copy); runs pass-1 parsing.

    Args:
        options: the option columns of the row (``A``..``D``), ``None`` where the cell is empty.
        prediction: raw model response (converted with ``str`` as the official evaluator does).
    """
    options = {letter: (value if _present(value) else None) for letter, value in options.items()
               if letter in _OPTION_LETTERS}
    if answer not in _OPTION_LETTERS:
        raise DataError(f"MMBench row {index}: answer must be one of A-D, got {answer!r}.")
    prediction = str(prediction)
    return {"doc_id": str(doc_id), "index": int(index), "question": str(question), "options": options,
            "prediction": prediction, "answer": answer, "category": category, "l2_category": l2_category,
            "split": split, "prefetch": can_infer(prediction, options)}


def _judge_row(record: Mapping, judge, rng: random.Random, stats: dict) -> str:
    """Official ``extract_answer_from_item`` for a row pass 1 could not parse. Raises JudgeError."""
    prompt = build_judge_prompt(record["question"], record["options"], record["prediction"])
    for attempt in range(JUDGE_TRIES):  # independent draws at T=0.7: distinct cache keys via for_run
        stats["n_judge_calls"] += 1
        letter = can_infer(for_run(judge, attempt).complete(prompt, max_tokens=JUDGE_MAX_TOKENS, temperature=JUDGE_TEMPERATURE),
                           record["options"])
        if letter:
            return letter
    stats["n_random_fallback"] += 1
    if len(record["options"]) < 2:  # the official code returns no letter here: a miss
        return ""
    letters = string.ascii_uppercase[:len(record["options"])] + "E"
    return letters[rng.randint(0, len(letters) - 1)]


def _eval_group(rows: list[Mapping], judge, rng: random.Random, stats: dict) -> int | None:
    """Official ``eval_sub_data``: 1 / 0, or ``None`` when pass 2 is needed and no judge answered."""
    for row in rows:
        if row["prefetch"] and row["prefetch"] != row["answer"]:
            return 0
    for row in rows:
        if row["prefetch"]:
            continue
        if judge is None:
            return None
        try:
            letter = _judge_row(row, judge, rng, stats)
        except JudgeError:
            stats["n_judge_errors"] += 1
            return None
        stats["n_judged_rows"] += 1
        if letter != row["answer"]:
            return 0
    return 1


def _mean_by(hits: list[tuple[Mapping, int]], field: str) -> dict[str, float]:
    groups: dict[str, list[int]] = {}
    for record, hit in hits:
        groups.setdefault(record[field], []).append(hit)
    return {name: sum(values) / len(values) * 100 for name, values in sorted(groups.items())}


def aggregate(records: Iterable[Mapping], judge=None, seed: int = OFFICIAL_SEED) -> dict:
    """CircularEval scores from the records of every row (main questions and their circular copies).

    Returns:
        ``{"accuracy": % of graded main questions hit, "n_questions", "n_graded", "n_ungraded",
        "n_rows", "n_judge_calls", "n_judged_rows", "n_random_fallback", "n_judge_errors",
        "split": {split: %}, "l2_category": {name: %}, "category": {name: %},
        "per_sample": {doc_id of every row: group hit 0 | 1 | None}}`` (``per_sample`` is detail for
        samples files, not a score; ``None`` = ungraded group).
    """
    rows = sorted(records, key=lambda record: record["index"])
    if not rows:
        raise DataError("MMBench: no records to aggregate.")
    groups: dict[int, list[Mapping]] = {}
    for row in rows:
        groups.setdefault(row["index"] % CIRCULAR_OFFSET, []).append(row)
    mains = [row for row in rows if row["index"] < CIRCULAR_OFFSET]
    orphans = sorted(set(groups) - {row["index"] for row in mains})
    if orphans:
        raise DataError(f"MMBench: circular copies without their main question (index % 1e6 = {orphans[:5]}); "
                        "score every row of the tsv, main questions included.")
    rng = random.Random(seed)
    stats = {"n_judge_calls": 0, "n_judged_rows": 0, "n_random_fallback": 0, "n_judge_errors": 0}
    judgements: dict[int, int | None] = {}  # main index -> hit
    hits: list[tuple[Mapping, int]] = []
    for main in mains:
        hit = _eval_group(groups[main["index"]], judge, rng, stats)
        judgements[main["index"]] = hit
        if hit is not None:
            hits.append((main, hit))
    n_ungraded = sum(1 for hit in judgements.values() if hit is None)
    return {
        "accuracy": sum(hit for _, hit in hits) / len(hits) * 100 if hits else None,
        "n_questions": len(mains),
        "n_graded": len(hits),
        "n_ungraded": n_ungraded,
        "n_rows": len(rows),
        **stats,
        "split": _mean_by(hits, "split"),
        "l2_category": _mean_by(hits, "l2_category"),
        "category": _mean_by(hits, "category"),
        "per_sample": {row["doc_id"]: judgements[row["index"] % CIRCULAR_OFFSET] for row in rows},
    }
