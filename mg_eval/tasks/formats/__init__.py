"""Helpers for the readers of the benchmarks' official on-disk files (``tasks/<benchmark>/official_data.py``).

Each benchmark's reader turns the official files into rows in the benchmark's HF schema (the columns of the
hub dataset the task YAML names), so prompts and scoring see one schema whatever the source. The task YAML
names it: ``official_format: !function official_data.read``; it is called as ``read(path, split)``.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError

__all__ = ["find_file"]


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
