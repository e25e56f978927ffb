"""MMBench: a prediction table (``.xlsx`` or ``.tsv``) with a ``prediction`` column for every row.

This is the file LLaVA's ``convert_mmbench_for_submission.py`` writes and the official evaluator reads:
columns ``index, question, A, B, C, D, answer, prediction`` (+ ``category, l2-category, split``). As the
official evaluator, ground truth, category, l2-category and split come from the meta file when
``--annotation mmbench_dev_20230712.tsv`` is given, else from the table itself. Column names are matched
case-insensitively except the option letters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import ScoreOptions
from mg_eval.tasks.benchmark import read_declaration
from mg_eval.tasks.formats import read_tsv

from . import scorer as mmbench

_OPTION_COLUMNS = ("A", "B", "C", "D")
#: MMBench's L2 abilities (benchmark.yaml); a table naming others belongs to another benchmark.
L2_CATEGORIES = frozenset(read_declaration(Path(__file__).parent).categories["l2_categories"])


def _load_table(path: Path) -> list[dict]:
    """The table's rows (NaN -> None), column names lower-cased except the option letters."""
    return [{name if name in _OPTION_COLUMNS else str(name).lower(): value for name, value in row.items()}
            for row, _ in read_tsv(path)]


def detect(path: Path) -> bool:
    """An ``.xlsx``/``.tsv`` with ``index``, ``prediction`` and option ``A`` columns whose ``l2-category``
    values, where the column is there, are MMBench's L2 abilities (MMStar's tables have the same columns).
    MMBench's meta gives ``category`` and ``l2-category`` together: a table with a ``category`` column and no
    ``l2-category`` is another benchmark's (VLMEvalKit's AI2D_TEST table)."""
    if not (path.is_file() and path.suffix in (".xlsx", ".tsv")):
        return False
    try:
        rows = _load_table(path)
    except DataError:
        return False
    if not rows or not {"index", "prediction", "A"} <= set(rows[0]):
        return False
    if "category" in rows[0] and "l2-category" not in rows[0]:
        return False
    l2_values = {row.get("l2-category") for row in rows} - {None}
    return l2_values <= L2_CATEGORIES


def _meta(options: ScoreOptions) -> dict[int, dict] | None:
    if options.annotation is None:
        return None
    return {int(row["index"]): row for row in _load_table(options.annotation)}


def read(path: Path, options: ScoreOptions) -> list[dict]:
    """One record per table row (main questions and circular copies)."""
    rows = _load_table(path)
    if not rows:
        raise DataError(f"{path}: no rows.")
    for column in ("index", "question", "prediction", "A", "B"):
        if column not in rows[0]:
            raise DataError(f"{path}: no '{column}' column; the table needs index, question, A-D and prediction.")
    meta = _meta(options)
    records = []
    for number, row in enumerate(rows, start=2):
        index = int(row["index"])
        source = row if meta is None else meta.get(index)
        where = f"{path}: row {number} (index {index})"
        if source is None:
            raise DataError(f"{where}: index not found in --annotation {options.annotation}.")
        if source.get("answer") is None:
            raise DataError(f"{where}: no 'answer'; add the column or pass --annotation <meta tsv>.")
        options_map = {letter: row[letter] for letter in _OPTION_COLUMNS if letter in row}
        # the official evaluator applies str() to the pandas value: an empty cell becomes "nan"
        prediction = "nan" if row["prediction"] is None else str(row["prediction"])
        records.append(mmbench.process_result(
            str(index), index, row["question"], options_map, prediction, str(source["answer"]),
            category=str(source.get("category") or ""), l2_category=str(source.get("l2-category") or ""),
            split=str(source.get("split") or "dev")))
    return records


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: rule-extracted letter and the circular group's hit (``None`` = ungraded)."""
    per_sample = scores.get("per_sample", {})
    out = []
    for record in records:
        hit = per_sample.get(record["doc_id"])
        out.append({**record, "prompt": None, "response": record["prediction"], "extracted": record["prefetch"],
                    "target": record["answer"], "score": None if hit is None else float(hit)})
    return out
