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

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions
from mg_eval.tasks.formats import int_cell, read_prediction_table

from . import scorer as ocrbench
from .official_data import parse_answers

COLUMNS = ("index", "question", "answer", "category", "prediction")


def _rows(path: Path) -> list[dict] | None:
    """The table's rows if it is an OCRBench prediction table, else None."""
    rows = read_prediction_table(path, COLUMNS)
    return rows if rows and all(row["category"] in ocrbench.CATEGORIES for row in rows) else None


def detect(path: Path) -> bool:
    """A table with OCRBench's columns whose categories are all OCRBench's."""
    return _rows(path) is not None


def prediction_text(value: Any) -> str:
    """A prediction cell as VLMEvalKit's ``str(line['prediction'])`` sees it (an empty cell is NaN: ``"nan"``)."""
    return "nan" if value is None else str(value)


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per row."""
    rows = _rows(path)
    if rows is None:
        raise DataError(f"{path}: not an OCRBench prediction table; expected an .xlsx/.tsv with columns "
                        f"{', '.join(COLUMNS)} and OCRBench's categories.")
    records = []
    for number, row in enumerate(rows, start=2):
        where = f"{path}: row {number} (index {row['index']})"
        records.append(ocrbench.process_result(str(row["index"]), int_cell(row, "index", where), row["category"],
                                               parse_answers(row["answer"], where), prediction_text(row["prediction"])))
    return records


def aggregate(records: list[dict], judge: Any, options: ScoreOptions) -> dict:
    """:func:`scorer.aggregate` (no judge)."""
    return ocrbench.aggregate(records)


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, the answers and the hit."""
    return [{**record, "prompt": None, "response": record["prediction"], "target": record["answers"],
             "score": float(record["hit"])} for record in records]
