"""Compatibility re-export (the old import path): the prediction store now lives in :mod:`mg_eval.results.store`.

Nothing in ``mg_eval`` imports this module; it is kept so that external code written against
``mg_eval.engine.store`` keeps working.
"""

from __future__ import annotations

from mg_eval.results.store import (
    HEADER_CHECKED,
    HEADER_DEFAULTS,
    STORE_DIR,
    STORE_FORMAT,
    PredictionWriter,
    StoreLock,
    check_header,
    discard,
    load_predictions,
    prediction_fingerprint,
    store_dir,
    store_files,
    store_header,
    store_path,
    task_dir,
)

__all__ = [
    "HEADER_CHECKED", "HEADER_DEFAULTS", "STORE_DIR", "STORE_FORMAT", "PredictionWriter", "StoreLock", "check_header",
    "discard", "load_predictions", "prediction_fingerprint", "store_dir", "store_files", "store_header", "store_path",
    "task_dir",
]
