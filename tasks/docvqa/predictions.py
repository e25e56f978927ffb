"""DocVQA: VLMEvalKit's prediction table ``<model>_DocVQA_VAL.xlsx`` (or ``.tsv``) for ``mg-eval score``.

VLMEvalKit's inference writes the dataset's rows without the image plus ``prediction``: ``index, question,
answer, prediction``; ``answer`` holds the list of reference answers as a Python literal (a plain string is
one answer). VLMEvalKit names the file after the dataset, which tells it from another benchmark's table.
Scored with the official ANLS (``scorer.py``; VLMEvalKit's ``anls_compute`` gives the same per-answer value).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions, require_keys
from mg_eval.tasks.formats import read_tsv

from . import scorer as docvqa

_NAME = re.compile(r"DocVQA_VAL$")
_COLUMNS = ("index", "question", "answer", "prediction")


def detect(path: Path) -> bool:
    """``<model>_DocVQA_VAL.xlsx``/``.tsv`` with the columns above."""
    if not (path.is_file() and path.suffix in (".xlsx", ".tsv") and _NAME.search(path.stem)):
        return False
    try:
        rows = read_tsv(path)
    except DataError:
        return False
    return bool(rows) and set(_COLUMNS) <= set(rows[0][0])


def _answers(cell: Any) -> list[str]:
    text = str(cell)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [text]


def _prediction(row: Mapping) -> str:
    """``str(prediction)`` as VLMEvalKit takes it (an empty cell reads ``nan``)."""
    return "nan" if row["prediction"] is None else str(row["prediction"])


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per row, scored with the official ANLS (VLMEvalKit's ``str(prediction)``)."""
    records = []
    for row, where in read_tsv(path):
        require_keys(row, _COLUMNS, where, "Use VLMEvalKit's <model>_DocVQA_VAL.xlsx (inference output).")
        records.append(docvqa.process_result(str(row["index"]), row["index"], _prediction(row),
                                             _answers(row["answer"])))
    if not records:
        raise DataError(f"{path}: no rows.")
    return records


def aggregate(records: list[dict], judge: Any, options: ScoreOptions) -> dict:
    """:func:`scorer.aggregate` (no judge)."""
    return docvqa.aggregate(records)


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, the answers and the question's ANLS."""
    return [{**record, "prompt": None, "response": record["prediction"], "extracted": record["prediction"],
             "target": record["answers"], "score": record["anls"]} for record in records]
