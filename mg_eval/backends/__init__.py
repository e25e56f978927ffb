"""Model backends: how the engine gets a ``Generator`` without naming a model class.

``load_backend(name)`` finds a backend through the entry-point group ``mg_eval.backends``; each backend
declares what it supports (:class:`BackendCapabilities`) and builds a :class:`mg_eval.api.Generator` from a
model spec and the run options. ``mgm`` (``mg_eval.backends.mgm``) is the default and the reference.
The contract: docs/architecture.md "Backends".
"""

from mg_eval.api import BACKENDS_GROUP, DEFAULT_BACKEND
from mg_eval.backends.base import (
    DECODING_MODES,
    Backend,
    BackendCapabilities,
    DecodingChoice,
    check_device,
    check_run_options,
    decoding_mode,
    parse_device,
    rank_device,
)
from mg_eval.backends.registry import installed_backends, load_backend

__all__ = [
    "BACKENDS_GROUP", "DECODING_MODES", "DEFAULT_BACKEND", "Backend", "BackendCapabilities", "DecodingChoice",
    "check_device", "check_run_options", "decoding_mode", "installed_backends", "load_backend", "parse_device",
    "rank_device",
]
