"""MathVista (testmini) scores exactly as the official ``evaluation/{extract_answer,calculate_score}.py``.

Step 1, extraction (``extract_answer``): an empty response -> ``""``; a multiple-choice response equal to a
choice text -> itself; an integer/float question whose response parses as ``int``/``float`` -> ``str`` of it;
otherwise an LLM extracts the answer from ``DEMO_PROMPT`` + the problem's ``query`` + the response
(:func:`build_extraction_prompt`). The rule shortcuts run in :func:`process_result`; the LLM step runs in
:func:`aggregate` with the ``judge`` it is given (``judge=None`` -> those samples are counted in
``n_ungraded`` and left out of every score).

Step 2, scoring (``normalize_extracted_answer`` + ``safe_equal``): multiple choice -> first ``(x)`` letter,
a letter -> its choice text, else the Levenshtein-nearest choice (ties -> first; an empty extraction gets the
shortest choice); integer -> ``str(int(float(x)))``; float -> ``str(round(float(x), int(precision)))``;
list -> ``str(x)``; correct iff the string equals the answer.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str (pid), "response": str, "query": str, "question_type": "multi_choice"|"free_form",
     "answer_type": "text"|"integer"|"float"|"list", "choices": [str] | None, "precision": int | None,
     "answer": str, "metadata": {language, source, category, task, context, grade, skills: [str], ...},
     "extraction": str | None (None = needs the LLM extractor), "extraction_source": "rule"|"given"|None}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from Levenshtein import distance

from mg_eval.errors import DataError, JudgeError

__all__ = [
    "DEMO_PROMPT",
    "EXTRACTION_MAX_TOKENS",
    "BREAKDOWN_KEYS",
    "build_extraction_prompt",
    "rule_extract",
    "extract_with_judge",
    "get_most_similar",
    "normalize_extracted_answer",
    "safe_equal",
    "process_result",
    "aggregate",
]

EXTRACTION_MAX_TOKENS = 256  # the official Oct-2023 / MGM extractor's max_tokens, temperature 0
BREAKDOWN_KEYS = ("question_type", "answer_type", "language", "source", "category", "task", "context", "grade",
                  "skills")

# The official few-shot extraction prompt (evaluation/prompts/ext_ans.py; examples are pids 852, 104, 824,
# 506, 540). Kept verbatim: the double space in "line  graph" and the real newlines in the last question.
DEMO_PROMPT = """
Please read the following example. Then extract the answer from the model response and type it at the end of the prompt.

Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.
Question: Which number is missing?

Model response: The number missing in the sequence is 14.

Extracted answer: 14

Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.
Question: What is the fraction of females facing the camera?

Model response: The fraction of females facing the camera is 0.6, which means that six out of ten females in the group are facing the camera.

Extracted answer: 0.6

Hint: Please answer the question requiring a floating-point number with two decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.
Question: How much money does Luca need to buy a sour apple candy and a butterscotch candy? (Unit: $)

Model response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.

Extracted answer: 1.45

Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.
Question: Between which two years does the line  graph saw its maximum peak?

Model response: The line graph saw its maximum peak between 2007 and 2008.

Extracted answer: [2007, 2008]

Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.
Question: What fraction of the shape is blue?
Choices:
(A) 3/11
(B) 8/11
(C) 6/11
(D) 3/5

Model response: The correct answer is (B) 8/11.

Extracted answer: B
"""

_LETTER_IN_PARENS = re.compile(r"\(([a-zA-Z])\)")


def build_extraction_prompt(query: str, response: str) -> str:
    """The official ``create_test_prompt``: demo prompt, the problem's query, the response, the answer slot."""
    return f"{DEMO_PROMPT.strip()}\n\n{query}\n\n{response}\n\nExtracted answer: "


def rule_extract(response: str, question_type: str, answer_type: str, choices: Sequence[str] | None) -> str | None:
    """The official rule shortcuts of ``extract_answer``; ``None`` means the LLM extractor is needed."""
    if response == "":
        return ""
    if question_type == "multi_choice" and choices and response in choices:
        return response
    if answer_type == "integer":
        try:
            return str(int(response))
        except ValueError:
            pass
    if answer_type == "float":
        try:
            return str(float(response))
        except ValueError:
            pass
    return None


def extract_with_judge(judge, query: str, response: str) -> str:
    """The official LLM extraction step (temperature 0, 256 tokens); the stripped completion.

    Raises:
        JudgeError: the judge could not answer.
    """
    return judge.complete(build_extraction_prompt(query, response), max_tokens=EXTRACTION_MAX_TOKENS,
                          temperature=0.0).strip()


def get_most_similar(prediction: str, choices: Sequence[str]) -> str:
    """The choice with the smallest Levenshtein distance to ``prediction`` (ties -> the first)."""
    distances = [distance(prediction, choice) for choice in choices]
    return choices[distances.index(min(distances))]


def normalize_extracted_answer(
    extraction, choices: Sequence[str] | None, question_type: str, answer_type: str, precision
) -> str | None:
    """The official ``normalize_extracted_answer`` (``None`` when the extraction cannot be converted)."""
    if question_type == "multi_choice":
        text = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letters = _LETTER_IN_PARENS.findall(text)
        if letters:
            text = letters[0].upper()
        options = [chr(ord("A") + i) for i in range(len(choices))]
        if text in options:
            return choices[options.index(text)]
        return get_most_similar(text, choices)
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            return str(round(float(extraction), int(precision)))
        if answer_type == "list":
            return str(extraction)
    except (TypeError, ValueError, OverflowError):
        return None
    return extraction


def safe_equal(prediction: str | None, answer: str) -> bool:
    """The official ``safe_equal``: plain equality (``None`` never equals an answer)."""
    return prediction == answer


def _precision(value) -> int | None:
    if value is None:
        return None
    try:
        if value != value:  # NaN from pandas / HF float columns
            return None
        return int(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"MathVista: precision must be a number, got {value!r}.") from exc


def process_result(
    doc_id: str,
    response: str,
    problem: Mapping,
    extraction: str | None = None,
) -> dict:
    """Per-sample record for one MathVista problem.

    Args:
        doc_id: the problem's pid.
        response: raw model response.
        problem: the testmini fields ``query, question_type, answer_type, choices, precision, answer`` and
            ``metadata`` (or the metadata fields at top level, as in HF rows).
        extraction: an extraction made earlier (e.g. stored in an official output file); used as is.
    """
    missing = [key for key in ("question_type", "answer_type", "answer") if key not in problem]
    if missing:
        raise DataError(f"MathVista problem {doc_id!r}: missing field(s) {missing}.")
    choices = list(problem["choices"]) if problem.get("choices") is not None else None
    if problem["question_type"] == "multi_choice" and not choices:
        raise DataError(f"MathVista problem {doc_id!r}: multi_choice without 'choices'.")
    metadata = dict(problem.get("metadata") or {})
    for key in BREAKDOWN_KEYS[2:]:
        if key not in metadata and key in problem:
            metadata[key] = problem[key]
    source = "given" if extraction is not None else None
    if extraction is None:
        extraction = rule_extract(response, problem["question_type"], problem["answer_type"], choices)
        source = "rule" if extraction is not None else None
    return {
        "doc_id": str(doc_id), "response": response, "query": problem.get("query", ""),
        "question_type": problem["question_type"], "answer_type": problem["answer_type"], "choices": choices,
        "precision": _precision(problem.get("precision")), "answer": str(problem["answer"]),
        "metadata": metadata, "extraction": extraction, "extraction_source": source,
    }


def _score_one(record: Mapping, extraction: str) -> tuple[str | None, bool]:
    prediction = normalize_extracted_answer(extraction, record["choices"], record["question_type"],
                                            record["answer_type"], record["precision"])
    return prediction, safe_equal(prediction, record["answer"])


def _breakdown(rows: list[tuple[Mapping, bool]], key: str) -> dict:
    counts: dict[str, list[int]] = {}
    for record, hit in rows:
        value = record[key] if key in ("question_type", "answer_type") else record["metadata"].get(key)
        for item in (value or []) if key == "skills" else [value]:
            if item is None:
                continue
            tally = counts.setdefault(str(item), [0, 0])
            tally[0] += hit
            tally[1] += 1
    table = {value: {"accuracy": c / t * 100, "correct": c, "total": t} for value, (c, t) in counts.items()}
    return dict(sorted(table.items(), key=lambda item: item[1]["accuracy"], reverse=True))


def aggregate(records: Iterable[Mapping], judge=None) -> dict:
    """MathVista accuracy and every breakdown from per-sample records.

    Records whose ``extraction`` is ``None`` are extracted with ``judge`` (official prompt, temperature 0);
    without a judge, or when the judge fails, they are counted in ``n_ungraded`` and left out.

    Returns:
        ``{"accuracy": % correct of graded, "correct", "total", "n_samples", "n_ungraded",
        "n_judge_extractions", "n_judge_errors", <each of BREAKDOWN_KEYS>: {value: {accuracy, correct, total}},
        "per_sample": {pid: {"extraction", "prediction", "true_false"}}}`` (``per_sample`` is detail for
        samples files, not a score; ungraded pids are absent from it).
    """
    records = list(records)
    if not records:
        raise DataError("MathVista: no records to aggregate.")
    rows: list[tuple[Mapping, bool]] = []
    per_sample: dict[str, dict] = {}
    n_ungraded = n_judge = n_errors = 0
    for record in records:
        extraction = record["extraction"]
        if extraction is None:
            if judge is None:
                n_ungraded += 1
                continue
            if not record["query"]:
                raise DataError(f"MathVista problem {record['doc_id']!r}: the LLM extraction needs the problem's "
                                "'query' (testmini.json / the HF 'query' column).")
            try:
                extraction = extract_with_judge(judge, record["query"], record["response"])
                n_judge += 1
            except JudgeError:
                n_errors += 1
                n_ungraded += 1
                continue
        prediction, hit = _score_one(record, extraction)
        rows.append((record, hit))
        per_sample[record["doc_id"]] = {"extraction": extraction, "prediction": prediction, "true_false": hit}
    correct = sum(hit for _, hit in rows)
    result = {
        "accuracy": correct / len(rows) * 100 if rows else None,
        "correct": correct,
        "total": len(rows),
        "n_samples": len(records),
        "n_ungraded": n_ungraded,
        "n_judge_extractions": n_judge,
        "n_judge_errors": n_errors,
    }
    for key in BREAKDOWN_KEYS:
        result[key] = _breakdown(rows, key)
    result["per_sample"] = per_sample
    return result
