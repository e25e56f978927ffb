"""ChartQA: VLMEvalKit's prediction table ``<model>_ChartQA_TEST.xlsx`` (or ``.tsv``) for ``mg-eval score``.

VLMEvalKit's inference writes the dataset's rows without the image plus ``prediction``: ``index, question,
answer, split, prediction``. The subset is the ``split`` column (``human`` / ``augmented``, or the hub's
``human_test`` / ``augmented_test``; a ``type`` column is read the same way); a table without either scores
``relaxed_overall`` only (the subset scores are ``None``). The file is scored with the
official relaxed accuracy (``scorer.py``) on the stripped prediction: lmms-eval strips every generated answer
before ``process_results`` and VLMEvalKit strips it before the same ``relaxed_correctness``, so the number is
both the official one and VLMEvalKit's. VLMEvalKit names the file after the dataset, which tells it from
another benchmark's table with the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import is_prediction_table, read_prediction_table, table_prediction

from . import scorer as chartqa

_NAME = "ChartQA_TEST"
_COLUMNS = ("index", "question", "answer", "prediction")


def detect(path: Path) -> bool:
    """``<model>_ChartQA_TEST.xlsx``/``.tsv`` with the columns above."""
    return is_prediction_table(path, _COLUMNS, _NAME)


def _split_type(row: Mapping, where: str) -> str | None:
    """``human_test`` / ``augmented_test`` from the ``split`` (or ``type``) column; ``None`` without one."""
    value = row.get("split", row.get("type"))
    if value is None:
        return None
    split_type = str(value) if str(value).endswith("_test") else f"{value}_test"
    if split_type not in chartqa.SPLITS:
        raise DataError(f"{where}: split {value!r} is not human or augmented (VLMEvalKit's 'split' column).")
    return split_type


def read(path: Path) -> list[dict]:
    """One record per row, scored with the official relaxed accuracy (VLMEvalKit's ``str(prediction)``, stripped)."""
    rows = read_prediction_table(path, _COLUMNS, "Use VLMEvalKit's <model>_ChartQA_TEST.xlsx (inference output).")
    return [chartqa.process_result(str(row["index"]), _split_type(row, where), table_prediction(row).strip(),
                                   str(row["answer"]))
            for row, where in rows]


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the prediction, the answer and the hit."""
    return [{**record, "prompt": None, "response": record["prediction"], "extracted": record["prediction"],
             "target": record["answer"], "score": record["hit"]} for record in records]
