"""AI2D: VLMEvalKit's prediction table ``<model>_AI2D_TEST.xlsx`` (or ``.tsv``), the file its
``ImageMCQDataset.evaluate`` reads: the dataset's columns without the image (``index, question, A-D, answer,
category``) plus ``prediction``. An empty prediction cell is read as VLMEvalKit reads it, ``str(NaN)`` = ``"nan"``;
an empty option cell is no option (``build_choices``).

An MCQ table says nothing about its benchmark in its columns, so detection also needs the name VLMEvalKit gives
the file: ``AI2D`` in the file name (``<model>_AI2D_TEST.xlsx``), and no ``l2-category`` column (MMBench's and
MMStar's tables have one). Any other name: pass ``--format ai2d-vlmevalkit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions, samples_with_hits
from mg_eval.tasks.formats import int_cell, read_prediction_table

from . import scorer as ai2d

COLUMNS = ("index", "question", "A", "B", "answer", "prediction")
NAME_MARK = "ai2d"


def detect(path: Path) -> bool:
    """An MCQ prediction table named like VLMEvalKit's AI2D file, without an ``l2-category`` column."""
    if NAME_MARK not in path.stem.lower():
        return False
    rows = read_prediction_table(path, COLUMNS)
    return rows is not None and "l2-category" not in rows[0]


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per row (rule matching done here)."""
    rows = read_prediction_table(path, COLUMNS)
    if rows is None:
        raise DataError(f"{path}: not an AI2D prediction table; expected an .xlsx/.tsv with the columns "
                        f"{', '.join(COLUMNS)}.")
    records = []
    for number, row in enumerate(rows, start=2):
        where = f"{path}: row {number}"
        try:
            records.append(ai2d.process_result(str(row["index"]), int_cell(row, "index", where), row["question"],
                                               ai2d.options_of(row), "nan" if row["prediction"] is None else
                                               row["prediction"], str(row["answer"]), row.get("category")))
        except DataError as exc:
            raise DataError(f"{where}: {exc}" if not str(exc).startswith(where) else str(exc)) from None
    return records


def aggregate(records: list[dict], judge: Any, options: ScoreOptions) -> dict:
    """:func:`scorer.aggregate` (the judge only for rows the rules cannot match)."""
    return ai2d.aggregate(records, judge=judge)


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the response, the rules' letter, the answer and the hit (``None`` = ungraded)."""
    return samples_with_hits(records, scores, "answer")
