"""ChartQA: VLMEvalKit's prediction table ``<model>_ChartQA_TEST.xlsx`` (or ``.tsv``) for ``mg-eval score``.

VLMEvalKit's inference writes the dataset's rows without the image plus ``prediction``: ``index, question,
answer, split, prediction``. The subset is the ``split`` column (``human`` / ``augmented``, or the hub's
``human_test`` / ``augmented_test``; a ``type`` column is read the same way). The file is scored with the
official relaxed accuracy (``scorer.py``), not VLMEvalKit's variant (it strips and normalises the answers
first): the number is the official one. VLMEvalKit names the file after the dataset, which tells it from
another benchmark's table with the same columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions, require_keys
from mg_eval.tasks.formats import read_tsv

from . import scorer as chartqa

_NAME = re.compile(r"ChartQA_TEST$")
_COLUMNS = ("index", "question", "answer", "prediction")


def detect(path: Path) -> bool:
    """``<model>_ChartQA_TEST.xlsx``/``.tsv`` with the columns above."""
    if not (path.is_file() and path.suffix in (".xlsx", ".tsv") and _NAME.search(path.stem)):
        return False
    try:
        rows = read_tsv(path)
    except DataError:
        return False
    return bool(rows) and set(_COLUMNS) <= set(rows[0][0])


def _split_type(row: Mapping, where: str) -> str:
    value = str(row.get("split") or row.get("type") or "")
    split_type = value if value.endswith("_test") else f"{value}_test"
    if split_type not in chartqa.SPLITS:
        raise DataError(f"{where}: split {value!r} is not human or augmented; the table needs VLMEvalKit's "
                        "'split' column (human / augmented).")
    return split_type


def _prediction(row: Mapping) -> str:
    """``str(prediction)`` as VLMEvalKit takes it (an empty cell reads ``nan``)."""
    return "nan" if row["prediction"] is None else str(row["prediction"])


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per row, scored with the official relaxed accuracy (VLMEvalKit's ``str(prediction)``)."""
    records = []
    for row, where in read_tsv(path):
        require_keys(row, _COLUMNS, where, "Use VLMEvalKit's <model>_ChartQA_TEST.xlsx (inference output).")
        records.append(chartqa.process_result(str(row["index"]), _split_type(row, where), _prediction(row),
                                              str(row["answer"])))
    if not records:
        raise DataError(f"{path}: no rows.")
    return records


def aggregate(records: list[dict], judge: Any, options: ScoreOptions) -> dict:
    """:func:`scorer.aggregate` (no judge)."""
    return chartqa.aggregate(records)


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, the answer and the hit."""
    return [{**record, "prompt": None, "response": record["prediction"], "extracted": record["prediction"],
             "target": record["answer"], "score": record["hit"]} for record in records]
