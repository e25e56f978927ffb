"""Import the Python modules of a benchmark folder by path (no ``sys.path`` changes, no fixed package name).

A tasks root (``tasks/`` of the repository, the installed ``mg_tasks`` package, or any folder given with
``--tasks-root``) becomes a private package ``mg_eval_task_modules.r<hash of the root path>``, and each
benchmark folder in it a sub-package. So the modules of one folder import each other relatively
(``from .scorer import aggregate``), a folder may use another folder of the same root
(``from ..textvqa.scorer import ...``), and two roots holding a folder of the same name never collide.
Modules are imported on first use only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

__all__ = ["import_folder_module", "package_of"]

_PARENT = "mg_eval_task_modules"


def _package(name: str, path: Path | None) -> types.ModuleType:
    """The (namespace-like) package ``name`` searching ``path``, created once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(path)] if path is not None else []
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module


def package_of(folder: Path) -> str:
    """The private package name of a benchmark folder (its parent is the tasks root)."""
    folder = Path(folder).resolve()
    if not folder.name.isidentifier():
        raise ValueError(f"benchmark folder name {folder.name!r} is not a Python identifier "
                         f"(use letters, digits and underscores, e.g. {folder.name.replace('-', '_')!r})")
    root = folder.parent
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    _package(_PARENT, None)
    root_package = f"{_PARENT}.r{digest}"
    _package(root_package, root)
    return f"{root_package}.{folder.name}"


def import_folder_module(folder: Path, dotted: str) -> types.ModuleType:
    """Import ``<folder>/<dotted as a path>.py`` as a sub-module of the folder's private package.

    Raises:
        ValueError: the folder's name is not an identifier.
        ImportError / any error the module raises while importing.
    """
    return importlib.import_module(f"{package_of(folder)}.{dotted}")
