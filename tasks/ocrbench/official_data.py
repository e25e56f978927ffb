"""OCRBench official file: VLMEvalKit's ``OCRBench.tsv`` (``https://opencompass.openxlab.space/utils/VLMEval/
OCRBench.tsv``, md5 ``e953d98a987cc6e26ef717b61260b778``).

Columns ``index, image`` (base64), ``question, answer, category``; ``answer`` is the Python literal of a list
of accepted strings (VLMEvalKit ``eval``s it; here ``ast.literal_eval``, which accepts the same literals and
runs nothing). Rows come out as ``index, question, answers (list of str), category, image``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import find_file, read_tsv
from mg_eval.tasks.loaders import ImageRef, Row


def parse_answers(cell, where: str) -> list[str]:
    """The list of accepted answers from the ``answer`` cell (a list literal, or a list already).

    Raises:
        DataError: not a list literal of strings.
    """
    if isinstance(cell, list):
        return [str(answer) for answer in cell]
    try:
        value = ast.literal_eval(str(cell))
    except (ValueError, SyntaxError) as exc:
        raise DataError(f"{where}: answer {str(cell)[:60]!r} is not a list literal such as ['text'] ({exc}).") from None
    if not isinstance(value, list) or not all(isinstance(answer, str) for answer in value):
        raise DataError(f"{where}: answer {str(cell)[:60]!r} is not a list of strings.")
    return value


def read(path: Path, split: str) -> list[Row]:
    """Rows from ``OCRBench.tsv`` (``split`` is always ``test``)."""
    file = find_file(path, ("OCRBench.tsv", "OCRBench*.tsv", "*.tsv"), "OCRBench tsv")
    rows = []
    for record, where in read_tsv(file):
        for column in ("index", "question", "answer", "category"):
            if record.get(column) is None:
                raise DataError(f"{where}: no '{column}'; expected VLMEvalKit's OCRBench.tsv "
                                "(index, image, question, answer, category).")
        image = record.get("image")
        rows.append(({"index": record["index"], "question": str(record["question"]),
                      "answers": parse_answers(record["answer"], where), "category": record["category"],
                      "image": None if image is None else ImageRef(where=where, b64=str(image))}, where))
    return rows


def from_hub(rows: list[Row]) -> list[Row]:
    """Rows of the hub copy lmms-eval reads (``echo840/OCRBench``, split ``test``: ``dataset, question,
    question_type, answer`` (a list, or one string), ``image``) in this task's schema: ``index`` is the row
    position, ``category`` the ``question_type``.

    A row already in this schema (a copy saved from loaded docs) is kept as it is.

    Raises:
        DataError: a row without those fields.
    """
    out = []
    for position, (record, where) in enumerate(rows):
        if {"index", "answers", "category"} <= set(record):  # already in this schema (a copy saved from docs)
            out.append((record, where))
            continue
        missing = [field for field in ("question", "question_type", "answer") if record.get(field) is None]
        if missing:
            raise DataError(f"{where}: no {missing}; expected the hub copy echo840/OCRBench (dataset, question, "
                            "question_type, answer, image).")
        answer = record["answer"]
        out.append(({"index": position, "question": str(record["question"]),
                     "answers": [str(a) for a in answer] if isinstance(answer, list) else [str(answer)],
                     "category": record["question_type"], "image": record.get("image")}, where))
    return out
