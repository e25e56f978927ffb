"""DocVQA: VLMEvalKit's prediction table ``<model>_DocVQA_VAL.xlsx`` (or ``.tsv``) for ``mg-eval score``.

VLMEvalKit's inference writes the dataset's rows without the image plus ``prediction``: ``index, question,
answer, prediction``; ``answer`` holds the list of reference answers as a Python literal (a plain string is
one answer). VLMEvalKit names the file after the dataset, which tells it from another benchmark's table.
Scored with the official ANLS (``scorer.py``; VLMEvalKit's ``anls_compute`` gives the same per-answer value) on
the stripped prediction, as lmms-eval strips every generated answer before ``process_results``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.rescore.base import is_prediction_table, read_prediction_table, table_prediction

from . import scorer as docvqa

_NAME = "DocVQA_VAL"
_COLUMNS = ("index", "question", "answer", "prediction")


def detect(path: Path) -> bool:
    """``<model>_DocVQA_VAL.xlsx``/``.tsv`` with the columns above."""
    return is_prediction_table(path, _COLUMNS, _NAME)


def _answers(cell: Any) -> list[str]:
    text = str(cell)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text]
    return [str(v) for v in value] if isinstance(value, list) else [text]


def read(path: Path) -> list[dict]:
    """One record per row, scored with the official ANLS (VLMEvalKit's ``str(prediction)``, stripped)."""
    rows = read_prediction_table(path, _COLUMNS, "Use VLMEvalKit's <model>_DocVQA_VAL.xlsx (inference output).")
    return [docvqa.process_result(str(row["index"]), row["index"], table_prediction(row).strip(),
                                  _answers(row["answer"]))
            for row, _ in rows]


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, the answers and the question's ANLS."""
    return [{**record, "prompt": None, "response": record["prediction"], "extracted": record["prediction"],
             "target": record["answers"], "score": record["anls"]} for record in records]
