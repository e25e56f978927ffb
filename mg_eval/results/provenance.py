"""Where a run came from: the packages, platform and commit that made it (``environment``, ``git_sha`` of
results.json), and how it was made for marking it beside other runs (``how_made`` / ``made_mark``: backend,
prompts, judge), as `mg-eval plot`, `results --compare` and `report` show it.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("mini-gemini-eval", "torch", "transformers", "numpy", "pillow", "open_clip_torch", "timm",
             "lmms-eval")


def package_versions(names: Iterable[str] = _PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that can change a score (``None`` = not installed)."""
    return dict(_package_versions(tuple(names)))


@functools.lru_cache(maxsize=8)
def _package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_sha(repo_dir: str | os.PathLike | None = None) -> str | None:
    """The commit of the harness source tree (``+dirty`` appended if it has local changes), or ``None``.

    Cached per process for 60 s (a multi-task run asks once per task).
    """
    if repo_dir is None:
        checkout = Path(__file__).resolve().parents[2]
        if not (checkout / ".git").exists():  # a wheel install: no source tree (never an enclosing repo's SHA)
            return None
        repo_dir = checkout
    return _git_sha(str(Path(repo_dir)), int(time.monotonic() // 60))


@functools.lru_cache(maxsize=8)
def _git_sha(cwd: str, _minute: int) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha


def environment_info(device: str | None = None) -> dict[str, Any]:
    """Package versions, platform and device of this process (recorded in ``environment``)."""
    return {
        "packages": package_versions(),
        "platform": platform.platform(),
        "device": device,
        "argv": list(sys.argv),
    }


def how_made(record: Mapping[str, Any]) -> dict[str, str | None]:
    """How a run was made, for marking it beside others: ``{"backend", "protocol", "judge"}``.

    ``backend``: results.json ``backend.name`` (runs written before backends existed: the reference backend);
    ``judge``: the judge's name, ``None`` when none was used.
    """
    from mg_eval.api import DEFAULT_BACKEND

    block = record.get("backend")
    backend = block.get("name") if isinstance(block, Mapping) else None
    return {"backend": str(backend or DEFAULT_BACKEND), "protocol": str(record.get("protocol")),
            "judge": record.get("judge") or None}


def made_mark(backend: str, protocol: str, judges: Iterable[str | None] | None = None) -> str:
    """The short mark of how runs were made, e.g. ``"backend openai · lmms prompts · judge openai:gpt-4o-mini"``.

    ``judges``: the judges of the runs' judged tasks (``None`` = no judge used); ``None`` or empty leaves the
    judge out (no task needed one).
    """
    parts = [f"backend {backend}", f"{protocol} prompts"]
    if judges is not None:
        names = sorted({name or "no judge" for name in judges})
        if names:
            parts.append("judge " + "/".join(names) if names != ["no judge"] else "no judge")
    return " · ".join(parts)
