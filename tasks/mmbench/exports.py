"""MMBench submission file: the xlsx of LLaVA's ``scripts/convert_mmbench_for_submission.py``.

The converter reads the question tsv, drops ``hint, category, source, image, comment, l2-category``, inserts an
empty ``prediction`` column at position 6 and fills it with each row's model answer (matched by ``index``), then
writes ``to_excel(index=False, engine="openpyxl")`` (one sheet, ``Sheet1``). On the dev tsv that leaves
``index, question, A, B, C, D, prediction, answer, split``; the test tsv carries no answers, which leaves
``index, question, A, B, C, D, prediction, split``. Rows are in index order, as in the tsv.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError

COLUMNS_BEFORE = ("index", "question", "A", "B", "C", "D")
SHEET = "Sheet1"


def submission_frame(samples: list[dict]):
    """The converter's table from a run's samples (``index``, ``question``, ``options``, ``answer``, ``split``)."""
    import pandas as pd

    rows = []
    for sample in sorted(samples, key=lambda s: int(s["index"])):
        options = sample.get("options") or {}
        row = {"index": int(sample["index"]), "question": sample["question"],
               **{letter: options.get(letter) for letter in "ABCD"}, "prediction": sample["response"]}
        if sample.get("answer") is not None:
            row["answer"] = sample["answer"]
        row["split"] = sample.get("split")
        rows.append(row)
    if not rows:
        raise DataError("MMBench export: the run has no samples.")
    with_answers = ["answer"] if any("answer" in row for row in rows) else []
    return pd.DataFrame(rows, columns=[*COLUMNS_BEFORE, "prediction", *with_answers, "split"])


def write_mmbench(record: Mapping[str, Any], samples: list[dict], path: Path) -> None:
    """Write the submission xlsx for every row of the run (main questions and circular copies)."""
    submission_frame(samples).to_excel(path, index=False, engine="openpyxl", sheet_name=SHEET)
