"""Helpers for the readers of the benchmarks' official on-disk files (``tasks/<benchmark>/official_data.py``).

Each benchmark's reader turns the official files into rows in the benchmark's HF schema (the columns of the
hub dataset the task YAML names), so prompts and scoring see one schema whatever the source. The task YAML
names it: ``official_format: !function official_data.read``; it is called as ``read(path, split)``.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError

__all__ = ["find_file", "int_cell", "read_json", "read_jsonl", "read_text", "read_tsv", "write_sample_tsv"]


def find_file(path: Path, patterns: tuple[str, ...], what: str) -> Path:
    """``path`` itself if it is a file, else the first match of ``patterns`` inside the folder.

    Raises:
        DataError: nothing matches; the message lists what was expected.
    """
    if path.is_file():
        return path
    for pattern in patterns:
        matches = sorted(path.glob(pattern))
        if matches:
            return matches[0]
    raise DataError(f"{path}: no {what} found (looked for {', '.join(patterns)}); point --data-path at the "
                    f"file or at the folder holding it.")


def read_text(file: Path) -> str:
    """The UTF-8 text of an annotation file.

    Raises:
        DataError: the file cannot be read or is not valid UTF-8 (names the byte offset and the fix).
    """
    try:
        return file.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DataError(f"{file}: cannot be read ({exc.strerror or exc}).") from None
    except UnicodeDecodeError as exc:
        line = file.read_bytes()[:exc.start].count(b"\n") + 1
        raise DataError(f"{file}: line {line} is not valid UTF-8 (byte {exc.object[exc.start]:#04x} at offset "
                        f"{exc.start}); re-save the file as UTF-8 or re-download it.") from None


def read_json(file: Path) -> Any:
    """The parsed JSON of an annotation file (UTF-8).

    Raises:
        DataError: unreadable, not UTF-8, or not valid JSON; names the file and the position.
    """
    try:
        return json.loads(read_text(file))
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON ({exc}); re-download the file.") from None


def read_jsonl(file: Path) -> list[tuple[Any, str]]:
    """``(item, "<file>:<line>")`` for every non-blank line of a JSON-lines file (UTF-8).

    Raises:
        DataError: unreadable, not UTF-8, or a line that is not valid JSON (names the file and line).
    """
    items = []
    for number, line in enumerate(read_text(file).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((json.loads(line), f"{file}:{number}"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{file}:{number}: not valid JSON ({exc}); the file is JSON lines.") from None
    return items


def read_tsv(file: Path, renames: Mapping[str, str] | None = None) -> list[tuple[dict[str, Any], str]]:
    """The rows of a tsv read with pandas defaults (as the official scripts read them: "None"/"NA" cells become
    missing), columns renamed by ``renames``, NaN -> None and numpy scalars -> Python; each row with its place
    for messages, ``"<file>: row N (index I)"`` (N counts the header as row 1). An ``.xlsx`` file (VLMEvalKit's
    prediction tables) is read from its first sheet into the same rows.

    Raises:
        DataError: the file cannot be read as a tsv.
    """
    import pandas as pd

    excel = file.suffix == ".xlsx"
    try:
        table = pd.read_excel(file) if excel else pd.read_csv(file, sep="\t")
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # a damaged .xlsx is a damaged zip archive
        raise DataError(f"{file}: cannot read the {'xlsx' if excel else 'tsv'} ({exc}).") from exc
    table = table.rename(columns=dict(renames or {}))
    records = []
    for i, raw in enumerate(table.to_dict("records")):
        record = {key: _plain_cell(value) for key, value in raw.items()}
        records.append((record, f"{file}: row {i + 2} (index {record.get('index')})"))
    return records


def int_cell(row: Mapping[str, Any], column: str, where: str) -> int:
    """``int(row[column])`` (a whole float such as ``3.0`` included).

    Raises:
        DataError: not a whole number; names ``where`` (file and row) and the column.
    """
    value = row.get(column)
    try:
        number = int(value)
        if isinstance(value, bool) or number != float(value):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {column} {value!r} is not an integer.") from None
    return number


def write_sample_tsv(rows: list[dict[str, Any]], file: Path) -> Path:
    """Write bundled sample rows as a VLMEvalKit-style tsv: PIL images become base64 PNG cells. Returns ``file``."""
    import base64
    import io

    import pandas as pd
    from PIL import Image

    def cell(value: Any) -> Any:
        if not isinstance(value, Image.Image):
            return value
        buffer = io.BytesIO()
        value.save(buffer, format="PNG", optimize=True)
        return base64.b64encode(buffer.getvalue()).decode()

    file.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{key: cell(value) for key, value in row.items()} for row in rows]).to_csv(file, sep="\t", index=False)
    return file


def _plain_cell(value: Any) -> Any:
    """NaN -> None; numpy scalars -> Python."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value

