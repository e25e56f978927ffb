"""Readers for the benchmarks' official on-disk files, one module per benchmark.

Each reader turns the official files into rows in the benchmark's HF schema (the columns of the hub
dataset the task YAML names), so prompts and scoring see one schema whatever the source.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.loaders import Row

__all__ = ["FORMATS", "read_official"]

#: official_format name (YAML key) -> module under mg_eval.tasks.formats
FORMATS = {
    "textvqa_json": "textvqa",
    "mmbench_tsv": "mmbench",
    "mme_folder": "mme",
    "mmvet_json": "mmvet",
    "mathvista_json": "mathvista",
}


def read_official(name: str, path: Path, split: str) -> list[Row]:
    """Read ``path`` with the official-format reader ``name`` for ``split``.

    Raises:
        DataError: unknown reader, or the files do not match the official layout.
    """
    if name not in FORMATS:
        raise DataError(f"unknown official_format '{name}' (known: {', '.join(sorted(FORMATS))}).")
    module = importlib.import_module(f"mg_eval.tasks.formats.{FORMATS[name]}")
    return module.read(path, split)


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
