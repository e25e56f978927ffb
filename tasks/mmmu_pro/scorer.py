"""MMMU-Pro scores exactly as the official ``mmmu-pro/evaluate.py`` (MMMU-Benchmark/MMMU) computes them.

* Options: the ``options`` cell is a Python list literal; letters ``A``, ``B``, ... in order (10 in the
  standard setting).
* :func:`parse_multi_choice_response`, the MMMU-Pro variant of MMMU's parser: first, after the **last**
  ``Answer:``, a unique option letter contained in the rest (substring test) is the answer. Otherwise the
  response is stripped of ``,.!?;:'`` at both ends and padded with spaces, and candidates are, in this order of
  rules: ``(X)``; ``X `` (letter then space, anywhere); ``X.``; and, when the response has more than 5 words,
  option texts contained in it (case-insensitive). One candidate -> it; several -> the one occurring last
  (``(X)`` by its last ``(X)``; letters by their last `` X `` (-1 if absent, first wins on ties); texts by
  their last occurrence); none -> a random letter (the official script calls ``random.choice`` unseeded;
  here a private ``random.Random(seed)`` draws, in record order).
* A sample is right when the parsed letter equals ``answer``; ``accuracy`` = right / all x 100 (the official
  script's number), and per subject.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str, "subject": str, "answer": letter, "response": str, "all_choices": [letter, ...],
     "index2ans": {letter: text}, "parsed": letter | None (None = the random draw happens in aggregate)}
"""

from __future__ import annotations

import ast
import random
from collections.abc import Iterable, Mapping, Sequence

from mg_eval.errors import DataError

__all__ = ["DEFAULT_SEED", "parse_options", "parse_multi_choice_response", "process_result", "aggregate"]

DEFAULT_SEED = 0
_EDGE_CHARS = (",", ".", "!", "?", ";", ":", "'")
_ANSWER_MARK = "Answer:"


def parse_options(cell) -> list[str]:
    """The option texts of an ``options`` cell (a list, or its Python literal string); a nested list option
    becomes its ``str`` (the official script would only fail on it when matching option texts)."""
    try:
        options = cell if isinstance(cell, list) else ast.literal_eval(str(cell))
    except (ValueError, SyntaxError):
        options = None
    if not isinstance(options, list) or not options:
        raise DataError(f"MMMU-Pro: options must be a non-empty list literal, got {str(cell)[:80]!r}.")
    return [str(option) for option in options]


def _last(candidates: list[str], position) -> str:
    positions = [position(c) for c in candidates]
    return candidates[positions.index(max(positions))]  # numpy argmax: the first of equal maxima


def parse_multi_choice_response(response: str, all_choices: Sequence[str], index2ans: Mapping[str, str],
                                rng: random.Random | None = None) -> str | None:
    """The official parser; ``None`` where it would draw at random and no ``rng`` is given."""
    mark = response.rfind(_ANSWER_MARK)
    if mark != -1:
        tail = response[mark + len(_ANSWER_MARK):].strip()
        matching = [choice for choice in all_choices if choice in tail]
        if len(matching) == 1:
            return matching[0]
    for char in _EDGE_CHARS:
        response = response.strip(char)
    response = " " + response + " "
    candidates = [choice for choice in all_choices if f"({choice})" in response]
    with_brackets, by_text = bool(candidates), False
    if not candidates:
        candidates = [choice for choice in all_choices if f"{choice} " in response]
    if not candidates:
        candidates = [choice for choice in all_choices if f"{choice}." in response]
    if not candidates and len(response.split()) > 5:
        candidates = [index for index, text in index2ans.items() if text.lower() in response.lower()]
        by_text = bool(candidates)
    if not candidates:
        return rng.choice(list(all_choices)) if rng is not None else None
    if len(candidates) == 1:
        return candidates[0]
    if by_text:
        return _last(candidates, lambda c: response.lower().rfind(index2ans[c].lower()))
    if with_brackets:
        return _last(candidates, lambda c: response.rfind(f"({c})"))
    return _last(candidates, lambda c: response.rfind(f" {c} "))


def process_result(doc_id: str, subject: str, options_cell, answer: str, response) -> dict:
    """Per-sample record for one MMMU-Pro question (parsing done here, the random draw in aggregate).

    An answer that is not one of the letters is kept (the official script scores it wrong): the released data
    has such rows (``validation_Accounting_29`` holds its options as one nested list).

    Raises:
        DataError: options that are not a list literal.
    """
    options = parse_options(options_cell)
    all_choices = [chr(ord("A") + i) for i in range(len(options))]
    text = "" if isinstance(response, dict) else str(response)  # the official script maps a dict to ""
    index2ans = dict(zip(all_choices, options))
    return {"doc_id": str(doc_id), "subject": subject, "answer": answer, "response": text,
            "all_choices": all_choices, "index2ans": index2ans,
            "parsed": parse_multi_choice_response(text, all_choices, index2ans)}


def aggregate(records: Iterable[Mapping], seed: int = DEFAULT_SEED) -> dict:
    """``accuracy`` (percent over all questions, the official number), per subject, and the random draws.

    Returns:
        ``{"accuracy", "subject": {name: %}, "n_questions", "n_random_fallback", "per_sample": {doc_id: 0|1}}``.
    """
    records = list(records)
    if not records:
        raise DataError("MMMU-Pro: no records to aggregate.")
    rng = random.Random(seed)
    per_sample: dict[str, int] = {}
    by_subject: dict[str, list[int]] = {}
    n_random = 0
    for record in records:
        parsed = record["parsed"]
        if parsed is None:
            parsed, n_random = rng.choice(list(record["all_choices"])), n_random + 1
        hit = int(parsed == record["answer"])
        per_sample[record["doc_id"]] = hit
        by_subject.setdefault(record["subject"], []).append(hit)
    return {"accuracy": 100.0 * sum(per_sample.values()) / len(per_sample),
            "subject": {name: 100.0 * sum(v) / len(v) for name, v in sorted(by_subject.items())},
            "n_questions": len(records), "n_random_fallback": n_random, "per_sample": per_sample}
