"""The LLaVA Model Zoo tables as reference points, on the columns a public source ties to ours.

``mg_eval/analysis/reference/llava_model_zoo_v1_5.csv`` and ``..._v1_6.csv`` hold the zoo's numbers as printed;
``llava_model_zoo_mapping.csv`` (data, like the paper's CSVs) lists every number column of both files once:
``file, zoo_column, part, task, score, protocol, source, evidence``. A row with a ``task`` and ``score`` maps the
column (``part`` = 1-based piece of an ``a/b`` cell, empty = the whole cell) to the leaderboard column that
the task's benchmark declares for that score (``paper_columns`` in ``tasks/<benchmark>/benchmark.yaml``); a
row without them says in ``evidence`` why the column is not drawn. ``source`` and ``evidence`` name where the
meaning of the column is stated. Nothing here names a benchmark.

:func:`load_zoo` returns :class:`~mg_eval.analysis.plots.Entry` objects with ``source="zoo"`` and labels
``"<version>-<size or LLM>[-LoRA] (LLaVA Model Zoo)"``; ``mg-eval plot`` draws them as open markers.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mg_eval.analysis.plots import Entry
from mg_eval.errors import UserInputError
from mg_eval.tasks import find_benchmark, list_tasks

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
DEFAULT_MAPPING = REFERENCE_DIR / "llava_model_zoo_mapping.csv"
MAPPING_FIELDS = ("file", "zoo_column", "part", "task", "score", "protocol", "source", "evidence")
ID_COLUMNS = ("version", "size", "llm", "schedule", "checkpoint")  # what names a zoo row; not numbers
LABEL_SUFFIX = " (LLaVA Model Zoo)"
ZOO_SOURCE = "zoo"
DEFAULT_ZOO_ROWS = ("LLaVA-1.5-7B (LLaVA Model Zoo)", "LLaVA-1.5-13B (LLaVA Model Zoo)",
                    "LLaVA-1.6-Vicuna-7B (LLaVA Model Zoo)", "LLaVA-1.6-Vicuna-13B (LLaVA Model Zoo)")


@dataclass(frozen=True)
class ZooColumn:
    """One row of the mapping: a zoo column (or one ``part`` of its ``a/b`` cells) and what it is of ours."""

    file: str
    zoo_column: str
    part: int | None
    task: str | None
    score: str | None
    protocol: str | None
    source: str
    evidence: str
    where: str  # "<mapping file>:<line>" for messages

    @property
    def mapped(self) -> bool:
        return self.task is not None


def load_mapping(path: str | Path = DEFAULT_MAPPING) -> list[ZooColumn]:
    """The mapping rows; a malformed row is a ``UserInputError`` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"zoo mapping {path} does not exist; use {DEFAULT_MAPPING}")
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != MAPPING_FIELDS:
            raise UserInputError(f"{path}: the header must be {','.join(MAPPING_FIELDS)}")
        for line, raw in enumerate(reader, start=2):
            rows.append(_mapping_row(raw, f"{path}:{line}"))
    return rows


def _mapping_row(raw: Mapping[str, str], where: str) -> ZooColumn:
    task, score = raw["task"] or None, raw["score"] or None
    if (task is None) != (score is None):
        raise UserInputError(f"{where}: give both task and score (a mapped column) or neither (not drawn)")
    if not raw["evidence"]:
        raise UserInputError(f"{where}: evidence is empty; say where the column's meaning is stated, or why not")
    if task is not None and not raw["source"]:
        raise UserInputError(f"{where}: a mapped column needs its source")
    part = raw["part"] or None
    if part is not None and not part.isdigit():
        raise UserInputError(f"{where}: part must be a 1-based number, got {part!r}")
    return ZooColumn(file=raw["file"], zoo_column=raw["zoo_column"], part=int(part) if part else None, task=task,
                     score=score, protocol=raw["protocol"] or None, source=raw["source"], evidence=raw["evidence"],
                     where=where)


def leaderboard_column(row: ZooColumn) -> str:
    """The leaderboard column key a mapped row fills: the one its task's benchmark declares for its score."""
    if row.task not in list_tasks():
        raise UserInputError(f"{row.where}: task {row.task!r} is not a known task (`mg-eval tasks` lists them)")
    declaration = find_benchmark(row.task)
    keys = [column.key for column in (declaration.paper_columns if declaration else ())
            if column.score == row.score and (not column.tasks or row.task in column.tasks)]
    if len(keys) != 1:
        raise UserInputError(f"{row.where}: {row.task}/{row.score} fills {len(keys)} leaderboard columns "
                             f"({keys}); it must fill exactly one (paper_columns of its benchmark.yaml)")
    return keys[0]


def load_zoo(mapping: str | Path = DEFAULT_MAPPING) -> list[Entry]:
    """One entry per zoo row of every file the mapping names, holding only the mapped columns."""
    mapping = Path(mapping)
    rows = load_mapping(mapping)
    entries = []
    for file in dict.fromkeys(row.file for row in rows):
        entries += _load_file(mapping.parent / file, [row for row in rows if row.file == file])
    return entries


def _load_file(path: Path, rows: Sequence[ZooColumn]) -> list[Entry]:
    if not path.is_file():
        raise UserInputError(f"{rows[0].where}: zoo table {path} does not exist")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or ())
        records = list(reader)
    numbers = [name for name in header if name not in ID_COLUMNS]
    listed = {row.zoo_column for row in rows}
    if set(numbers) != listed:
        raise UserInputError(f"{path}: columns {sorted(set(numbers) ^ listed)} are in the table or the mapping "
                             "but not both; the mapping lists every number column once (mapped or not)")
    mapped = [(row, leaderboard_column(row)) for row in rows if row.mapped]
    return [Entry(label=zoo_label(record), source=ZOO_SOURCE,
                  values={key: _cell(record[row.zoo_column], row, f"{path}:{line}") for row, key in mapped})
            for line, record in enumerate(records, start=2)]


def zoo_label(record: Mapping[str, str]) -> str:
    """``"LLaVA-1.5-7B-LoRA (LLaVA Model Zoo)"``: version, size (or LLM), the LoRA schedule marked."""
    name = f"{record['version']}-{record.get('size') or record.get('llm')}"
    return name + ("-LoRA" if record["schedule"].startswith("lora") else "") + LABEL_SUFFIX


def _cell(text: str, row: ZooColumn, where: str) -> float | None:
    """The number of a cell, or of its ``part`` (``"1519/332"``, part 2 -> 332.0); empty -> ``None``."""
    if not text.strip():
        return None
    pieces = text.split("/")
    if row.part is not None and row.part > len(pieces):
        raise UserInputError(f"{where}: {row.zoo_column} {text!r} has no part {row.part} ({row.where})")
    if row.part is None and len(pieces) > 1:
        raise UserInputError(f"{where}: {row.zoo_column} {text!r} has parts; give 'part' in {row.where}")
    piece = pieces[row.part - 1] if row.part is not None else text
    try:
        return float(piece)
    except ValueError:
        raise UserInputError(f"{where}: {row.zoo_column} {text!r} is not a number") from None
