"""Finding backends: the entry points of the group ``mg_eval.backends`` (any installed package may add one).

``[project.entry-points."mg_eval.backends"]`` maps a backend's name to its :class:`~mg_eval.backends.base.Backend`
subclass (or instance), e.g. ``mgm = "mg_eval.backends.mgm:MGMBackend"``. Nothing is cached: a package
installed (or a test's ``*.dist-info`` put on ``sys.path``) is seen by the next call.
"""

from __future__ import annotations

from importlib import metadata

from mg_eval.api import BACKENDS_GROUP, DEFAULT_BACKEND
from mg_eval.backends.base import Backend
from mg_eval.errors import UserInputError

__all__ = ["installed_backends", "load_backend"]

#: The reference backend is always there, even in a source tree whose entry points are not installed yet.
_BUILT_IN = {DEFAULT_BACKEND: "mg_eval.backends.mgm:MGMBackend"}


def _entry_points() -> dict[str, metadata.EntryPoint]:
    found = {name: metadata.EntryPoint(name, value, BACKENDS_GROUP) for name, value in _BUILT_IN.items()}
    registered: set[str] = set()
    for entry in metadata.entry_points(group=BACKENDS_GROUP):
        if entry.name not in registered:  # the first distribution on sys.path wins (as for console scripts)
            found[entry.name] = entry
            registered.add(entry.name)
    return found


def installed_backends() -> list[str]:
    """Names of the installed backends, sorted."""
    return sorted(_entry_points())


def load_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises ``UserInputError``: an unknown name (listing the installed ones), or an entry point that cannot
    be imported or does not give a ``Backend`` (naming the entry point and the error).
    """
    entries = _entry_points()
    entry = entries.get(name)
    if entry is None:
        raise UserInputError(f"unknown --backend {name!r}; installed backends: {', '.join(sorted(entries)) or 'none'} "
                             f"(a backend registers under the entry-point group {BACKENDS_GROUP!r})")
    try:
        loaded = entry.load()
    except Exception as exc:  # an optional backend whose dependency is missing, a typo in the entry point
        raise UserInputError(f"--backend {name}: its entry point {entry.value!r} cannot be loaded "
                             f"({type(exc).__name__}: {exc}); reinstall the package that provides it") from None
    backend = loaded() if isinstance(loaded, type) else loaded
    if not isinstance(backend, Backend):
        raise UserInputError(f"--backend {name}: entry point {entry.value!r} gives {type(backend).__name__}, "
                             "not a mg_eval.backends.Backend")
    if backend.name != name:
        raise UserInputError(f"--backend {name}: entry point {entry.value!r} gives a backend named "
                             f"{backend.name!r}; the entry point's name and Backend.name must be the same")
    return backend
