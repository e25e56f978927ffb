"""AI2D: VLMEvalKit's prediction table ``<model>_AI2D_TEST.xlsx`` (or ``.tsv``), the file its
``ImageMCQDataset.evaluate`` reads: the dataset's columns without the image (``index, question, A-D, answer,
category``) plus ``prediction``. An empty prediction cell is read as VLMEvalKit reads it, ``str(NaN)`` = ``"nan"``;
an empty option cell is no option (``build_choices``).

An MCQ table says nothing about its benchmark in its columns, so detection also needs the name VLMEvalKit gives
the file (``<model>_AI2D_TEST``), and no ``l2-category`` column (MMBench's and MMStar's tables have one). Any
other name: pass ``--format ai2d-vlmevalkit`` or ``--task ai2d_test``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import (
    is_prediction_table,
    read_prediction_table,
    samples_with_hits,
    table_prediction,
)
from mg_eval.tasks.formats import int_cell, read_tsv

from . import scorer as ai2d

COLUMNS = ("index", "question", "A", "B", "answer", "prediction")
NAME_SUFFIX = "_AI2D_TEST"
_FIX = "Use VLMEvalKit's <model>_AI2D_TEST.xlsx (inference output)."


def detect(path: Path) -> bool:
    """An MCQ prediction table named like VLMEvalKit's AI2D file, without an ``l2-category`` column."""
    return (is_prediction_table(path, COLUMNS, name_suffix=NAME_SUFFIX)
            and "l2-category" not in read_tsv(path)[0][0])


def read(path: Path) -> list[dict]:
    """One record per row (rule matching done here)."""
    records = []
    for row, where in read_prediction_table(path, COLUMNS, _FIX):
        try:
            records.append(ai2d.process_result(str(row["index"]), int_cell(row, "index", where), row["question"],
                                               ai2d.options_of(row), table_prediction(row), str(row["answer"]),
                                               row.get("category")))
        except DataError as exc:
            raise DataError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the response, the rules' letter, the answer and the hit (``None`` = ungraded)."""
    return samples_with_hits(records, scores, "answer")
