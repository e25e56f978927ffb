"""OCRBench: VLMEvalKit's prediction table ``<model>_OCRBench.xlsx`` (or ``.tsv``), the file its
``OCRBench.evaluate`` reads: the dataset's columns without the image (``index, question, answer, category``)
plus ``prediction``. ``answer`` is the list literal of the tsv. A prediction cell left empty is read as VLMEvalKit
reads it, ``str(NaN)`` = ``"nan"``.

Detection claims a table only when it has those columns and every ``category`` is one of OCRBench's 10
(no other benchmark's table has them).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.rescore.base import is_prediction_table, read_prediction_table, table_prediction
from mg_eval.tasks.formats import int_cell, read_tsv

from . import scorer as ocrbench
from .official_data import parse_answers

COLUMNS = ("index", "question", "answer", "category", "prediction")
_FIX = "Use VLMEvalKit's <model>_OCRBench.xlsx (inference output)."


def detect(path: Path) -> bool:
    """A table with OCRBench's columns whose categories are all OCRBench's."""
    return is_prediction_table(path, COLUMNS) and all(row["category"] in ocrbench.CATEGORIES
                                                      for row, _ in read_tsv(path))


def read(path: Path) -> list[dict]:
    """One record per row (the substring match is done here)."""
    return [ocrbench.process_result(str(row["index"]), int_cell(row, "index", where), str(row["category"]),
                                    parse_answers(row["answer"], where), table_prediction(row))
            for row, where in read_prediction_table(path, COLUMNS, _FIX)]


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, the answers and the hit."""
    return [{**record, "prompt": None, "response": record["prediction"], "target": record["answers"],
             "score": float(record["hit"])} for record in records]
