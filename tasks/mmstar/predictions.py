"""MMStar: VLMEvalKit's prediction table ``<model>_MMStar.xlsx`` (or ``.tsv``) for ``mg-eval score``.

VLMEvalKit's inference writes the dataset's rows without the image plus a ``prediction`` column: ``index,
question, answer, category, l2-category, A, B, C, D, prediction`` (options an item lacks are empty). Its
``ImageMCQDataset.evaluate`` matches each prediction with ``can_infer`` (the judge only for unmatched rows) and
``report_acc`` gives Overall, per capability and per axis: ``scorer.aggregate``. A table is MMStar's when its
``category`` and ``l2-category`` values are MMStar's capabilities and axes (``benchmark.yaml``), which tells it
from an MMBench table with the same columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import is_prediction_table, read_prediction_table, table_prediction
from mg_eval.tasks.formats import read_tsv

from . import scorer as mmstar

_COLUMNS = ("index", "question", "answer", "category", "l2-category", "prediction")


def detect(path: Path) -> bool:
    """An ``.xlsx``/``.tsv`` with the columns above whose categories are all MMStar's."""
    if not is_prediction_table(path, _COLUMNS):
        return False
    rows = [row for row, _ in read_tsv(path)]
    return all(row["category"] in mmstar.AXES and row["l2-category"] in mmstar.AXES[row["category"]]
               for row in rows)


def _options(row: Mapping, where: str) -> tuple[str, dict[str, str]]:
    """The question as VLMEvalKit's judge prompt shows it and the options (columns A-D, else inline)."""
    options = {letter: str(row[letter]) for letter in "ABCD" if row.get(letter) is not None}
    if options:
        return str(row["question"]), options
    try:
        return mmstar.split_options(str(row["question"]))
    except DataError:
        raise DataError(f"{where}: no options (columns A-D empty and no 'Options:' line in the question); "
                        "use VLMEvalKit's <model>_MMStar.xlsx.") from None


def read(path: Path) -> list[dict]:
    """One record per row, matched by VLMEvalKit's rules (``scorer.process_result``)."""
    records = []
    for row, where in read_prediction_table(path, _COLUMNS, "Use VLMEvalKit's <model>_MMStar.xlsx (inference output)."):
        question, choices = _options(row, where)
        records.append(mmstar.process_result(str(row["index"]), int(row["index"]), question, choices,
                                             table_prediction(row), str(row["answer"]), row["category"],
                                             row["l2-category"]))
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the rule-matched letter and the hit (``None`` = ungraded)."""
    per_sample = scores.get("per_sample", {})
    return [{**record, "prompt": None, "response": record["prediction"], "extracted": record["prefetch"],
             "target": record["answer"], "score": per_sample.get(record["doc_id"])} for record in records]
