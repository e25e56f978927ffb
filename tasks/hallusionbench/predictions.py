"""HallusionBench: VLMEvalKit's prediction table ``<model>_HallusionBench.xlsx`` (or ``.tsv``), the file its
``ImageYORNDataset.evaluate`` reads: the dataset's columns without the image (``index, question, answer,
category, l2-category``) plus ``prediction``. A prediction cell left empty is read as VLMEvalKit reads it,
``str(NaN)`` = ``"nan"``.

Detection claims a table only when it has those columns, every ``category`` is ``VD`` / ``VS`` and every
``index`` has HallusionBench's six ``_``-separated fields.
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
from mg_eval.tasks.formats import read_tsv

from . import scorer as hallusionbench

COLUMNS = ("index", "question", "answer", "category", "l2-category", "prediction")
_FIX = "Use VLMEvalKit's <model>_HallusionBench.xlsx (inference output)."


def detect(path: Path) -> bool:
    """A table with HallusionBench's columns, categories and index form."""
    return is_prediction_table(path, COLUMNS) and all(
        row["category"] in hallusionbench.CATEGORIES and len(str(row["index"]).split("_")) >= 6
        for row, _ in read_tsv(path))


def read(path: Path) -> list[dict]:
    """One record per row (rule extraction done here)."""
    records = []
    for row, where in read_prediction_table(path, COLUMNS, _FIX):
        try:
            records.append(hallusionbench.process_result(str(row["index"]), str(row["index"]), row["question"],
                                                         table_prediction(row), row["answer"], row["category"],
                                                         row["l2-category"]))
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the response, the rule's Yes / No, the answer and the hit (``None`` = ungraded)."""
    return samples_with_hits(records, scores, "answer")
