"""MMMU (validation) scores exactly as the official ``mmmu/utils/eval_utils.py`` computes them.

Multiple choice (``parse_multi_choice_response``): strip ``, . ! ? ; : '`` from both ends (not whitespace), pad
with spaces, look for ``(X)``, then `` X ``, then (only for responses of more than 5 tokens) option texts; several
candidates -> the one occurring last. When nothing is found the official code draws ``random.choice`` of the
letters from the module-level RNG seeded once with 42 at import. Our per-sample step marks such answers
(``parsed_pred = None``, ``random_fallback = True``); :func:`aggregate` then draws them from one
``random.Random(42)`` walking the subjects in the official order (``SUBJECTS``) and each subject's records in
the order they are given: for official output files that is file order, exactly the order of draws in
``main_parse_and_eval.py`` (which parses each ``output.json`` front to back); for our runs it is document
order. The number of fallbacks is reported.

Open questions (``parse_open_response`` + ``eval_open``): key sub-responses after indicator words, every
number found by three regexes, ``normalize_str`` (floats rounded to 2 decimals, one-letter strings padded);
correct if a string candidate contains a string gold, or a float candidate equals a float gold.

Per-sample record (output of :func:`process_result`, input of :func:`aggregate`)::

    {"doc_id": str (e.g. "validation_Art_Theory_3"), "subject": str, "question_type":
     "multiple-choice"|"open", "answer": str | list[str], "response": str,
     "all_choices": [str], "index2ans": {letter: text},          # multiple choice only
     "parsed_pred": str | None (MC) or list[str | float] (open), "random_fallback": bool}
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from mg_eval.errors import DataError

__all__ = [
    "SUBJECTS",
    "DOMAINS",
    "OFFICIAL_SEED",
    "parse_multi_choice_response",
    "parse_open_response",
    "normalize_str",
    "extract_numbers",
    "eval_multi_choice",
    "eval_open",
    "subject_of",
    "process_result",
    "aggregate",
]

OFFICIAL_SEED = 42

# Official subject order (CAT_SHORT2LONG in mmmu/utils/data_utils.py); draws of the random fallback follow it.
SUBJECTS = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory", "Basic_Medical_Science",
    "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science", "Design",
    "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics", "Energy_and_Power", "Finance",
    "Geography", "History", "Literature", "Manage", "Marketing", "Materials", "Math", "Mechanical_Engineering",
    "Music", "Pharmacy", "Physics", "Psychology", "Public_Health", "Sociology",
)
DOMAINS: dict[str, tuple[str, ...]] = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
MULTIPLE_CHOICE = "multiple-choice"

_EDGE_CHARS = (",", ".", "!", "?", ";", ":", "'")
_OPEN_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL_TAILS = (":", ",", ".", "!", "?", ";", "'")
_NUMBER_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUMBER_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUMBER_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")
_SUB_RESPONSE_SPLIT = re.compile(r"\.\s(?=[A-Z])|\n")
_ID_PATTERN = re.compile(r"^(?:validation|dev|test)_(.+)_\d+$")


def _last_position(candidates: list[str], find) -> str:
    positions = [find(candidate) for candidate in candidates]
    return candidates[int(np.argmax(positions))]


def parse_multi_choice_response(
    response: str, all_choices: Sequence[str], index2ans: Mapping[str, str], rng: random.Random | None = None
) -> str | None:
    """The official multiple-choice parser.

    Args:
        response: raw model response.
        all_choices: option letters, e.g. ``["A", "B", "C", "D"]``.
        index2ans: ``{letter: option text}``.
        rng: where the official code would draw a random letter, draw it from this RNG; ``None`` returns
            ``None`` instead (the caller draws later, in the official order).
    Returns:
        The chosen letter, or ``None`` when nothing was found and no ``rng`` was given.
    """
    for char in _EDGE_CHARS:
        response = response.strip(char)
    response = " " + response + " "
    candidates = [choice for choice in all_choices if f"({choice})" in response]
    with_brackets = bool(candidates)
    content_match = False
    if not candidates:
        candidates = [choice for choice in all_choices if f" {choice} " in response]
    if not candidates and len(response.split()) > 5:
        candidates = [index for index, text in index2ans.items() if text.lower() in response.lower()]
        content_match = bool(candidates)
    if not candidates:
        return rng.choice(list(all_choices)) if rng is not None else None
    if len(candidates) == 1:
        return candidates[0]
    if content_match:
        return _last_position(candidates, lambda c: response.lower().rfind(index2ans[c].lower()))
    if with_brackets:
        return _last_position(candidates, lambda c: response.rfind(f"({c})"))
    return _last_position(candidates, lambda c: response.rfind(f" {c} "))


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def normalize_str(text: str) -> list[str | float]:
    """Official ``normalize_str``: a number -> ``[round(float, 2)]``; else lower-cased, 1 char -> padded."""
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    """Official ``extract_numbers``: comma numbers, then scientific, then simple numbers (may overlap)."""
    return _NUMBER_WITH_COMMAS.findall(text) + _NUMBER_SCIENTIFIC.findall(text) + _NUMBER_SIMPLE.findall(text)


def _key_sub_responses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    pieces = _SUB_RESPONSE_SPLIT.split(response)
    key_responses = []
    for position, piece in enumerate(pieces):
        indicators = _OPEN_INDICATORS + (("=",) if position == len(pieces) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in piece:
                tail = piece.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL_TAILS:
            key_responses.append(shortest)
    return key_responses or [response]


def parse_open_response(response: str) -> list[str | float]:
    """Official ``parse_open_response``: the de-duplicated candidate answers of an open response.

    The official code returns ``list(set(...))`` (order undefined); here the order is sorted (strings after
    floats) so records are reproducible. ``eval_open`` does not depend on the order.
    """
    key_responses = _key_sub_responses(response)
    candidates: list[str] = list(key_responses)
    for key_response in key_responses:
        candidates.extend(extract_numbers(key_response))
    normalized: list[str | float] = []
    for candidate in candidates:
        normalized.extend(normalize_str(candidate))
    return sorted(set(normalized), key=lambda value: (isinstance(value, str), str(value)))


def eval_multi_choice(gold: str | Sequence[str], pred: str | None) -> bool:
    """Official ``eval_multi_choice``: exact equality (a list of golds -> any)."""
    if isinstance(gold, list):
        return pred in gold
    return gold == pred


def eval_open(gold: str | Sequence[str], preds: Sequence[str | float]) -> bool:
    """Official ``eval_open`` on the output of :func:`parse_open_response`."""
    if isinstance(gold, list):
        norm_answers: list[str | float] = []
        for answer in gold:
            norm_answers.extend(normalize_str(answer))
    else:
        norm_answers = normalize_str(gold)
    for pred in preds:
        if isinstance(pred, str):
            if any(isinstance(answer, str) and answer in pred for answer in norm_answers):
                return True
        elif pred in norm_answers:
            return True
    return False


def subject_of(doc_id: str) -> str:
    """Subject of an MMMU id: ``"validation_Art_Theory_3"`` -> ``"Art_Theory"``."""
    match = _ID_PATTERN.match(doc_id)
    if not match or match.group(1) not in SUBJECTS:
        raise DataError(f"MMMU id {doc_id!r} is not of the form '<split>_<Subject>_<n>' with a known subject.")
    return match.group(1)


def process_result(
    doc_id: str,
    question_type: str,
    response: str,
    answer: str | Sequence[str],
    all_choices: Sequence[str] | None = None,
    index2ans: Mapping[str, str] | None = None,
) -> dict:
    """Per-sample record for one MMMU question (no random draw here; see :func:`aggregate`).

    Args:
        doc_id: the MMMU id, e.g. ``"validation_Math_15"``.
        question_type: ``"multiple-choice"`` or anything else (= open, e.g. ``"open"``/``"short-answer"``).
        response: raw model response.
        answer: gold letter (MC) or gold string / list of strings (open; use the real lists of
            ``answer_dict_val.json``).
        all_choices, index2ans: the option letters and texts (multiple choice only).
    """
    record = {"doc_id": str(doc_id), "subject": subject_of(str(doc_id)), "question_type": question_type,
              "answer": list(answer) if isinstance(answer, (list, tuple)) else answer, "response": response}
    if question_type == MULTIPLE_CHOICE:
        if not all_choices or index2ans is None:
            raise DataError(f"MMMU question {doc_id!r}: multiple-choice needs 'all_choices' and 'index2ans'.")
        parsed = parse_multi_choice_response(response, all_choices, index2ans, rng=None)
        record.update(all_choices=list(all_choices), index2ans=dict(index2ans), parsed_pred=parsed,
                      random_fallback=parsed is None)
    else:
        record.update(parsed_pred=parse_open_response(response), random_fallback=False)
    return record


def _ordered_by_subject(records: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    """Records per subject, subjects in the official order, each subject's records in the given order.

    That is the official draw order: ``main_parse_and_eval.py`` walks the subjects in ``CAT_SHORT2LONG`` order
    and parses each ``output.json`` in file order (never sorted by question number).
    """
    by_subject: dict[str, list[Mapping]] = {}
    for record in records:
        by_subject.setdefault(record["subject"], []).append(record)
    return {subject: by_subject[subject] for subject in SUBJECTS if subject in by_subject}


def _micro_average(accs: Mapping[str, float], counts: Mapping[str, int], subjects: Iterable[str]) -> float:
    """Official ``calculate_ins_level_acc`` over the given subjects (in that order)."""
    weighted, total = 0, 0
    for subject in subjects:
        weighted += accs[subject] * counts[subject]
        total += counts[subject]
    return weighted / total if total else 0


def aggregate(records: Iterable[Mapping], seed: int = OFFICIAL_SEED) -> dict:
    """Per-subject, per-domain and overall accuracy from per-sample records.

    The random fallbacks are drawn here from ``random.Random(seed)`` in the official order (module docstring).

    Returns:
        ``{"accuracy": 100 * overall, "overall_acc": fraction, "per_subject_acc": {subject: fraction},
        "per_subject_n": {subject: int}, "per_domain_acc": {domain: fraction}, "per_domain_n": {...},
        "n_random_fallback": int, "n_samples": int,
        "per_sample": {doc_id: {"pred": letter or candidate list, "correct": bool, "random": bool}}}``.
        ``per_sample`` is per-question detail for samples files, not a score.
    """
    by_subject = _ordered_by_subject(records)
    if not by_subject:
        raise DataError("MMMU: no records to aggregate.")
    rng = random.Random(seed)
    accs: dict[str, float] = {}
    counts: dict[str, int] = {}
    per_sample: dict[str, dict] = {}
    n_fallback = 0
    for subject, subject_records in by_subject.items():
        correct = 0
        for record in subject_records:
            pred = record["parsed_pred"]
            drawn = record["question_type"] == MULTIPLE_CHOICE and pred is None
            if drawn:
                pred = rng.choice(list(record["all_choices"]))
                n_fallback += 1
            if record["question_type"] == MULTIPLE_CHOICE:
                hit = eval_multi_choice(record["answer"], pred)
            else:
                hit = eval_open(record["answer"], pred)
            per_sample[record["doc_id"]] = {"pred": pred, "correct": hit, "random": drawn}
            correct += hit
        accs[subject] = correct / len(subject_records)
        counts[subject] = len(subject_records)
    overall = _micro_average(accs, counts, accs)
    domain_acc, domain_n = {}, {}
    for domain, subjects in DOMAINS.items():
        present = [subject for subject in subjects if subject in accs]
        if present:
            domain_acc[domain] = _micro_average(accs, counts, present)
            domain_n[domain] = sum(counts[subject] for subject in present)
    return {
        "accuracy": 100 * overall,
        "overall_acc": overall,
        "per_subject_acc": accs,
        "per_subject_n": counts,
        "per_domain_acc": domain_acc,
        "per_domain_n": domain_n,
        "n_random_fallback": n_fallback,
        "n_samples": sum(counts.values()),
        "per_sample": per_sample,
    }
