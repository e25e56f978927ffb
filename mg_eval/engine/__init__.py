"""The evaluation engine: runner, feed, distributed sharding (the store and results records: ``mg_eval.results``).

``from mg_eval.engine import evaluate`` is the entry point (see ``mg_eval.engine.runner``). The runner
(and torch) is imported on first use, so readers of results (``mg_eval.results``) stay light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunResult", "evaluate"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mg_eval.engine import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'mg_eval.engine' has no attribute {name!r}")
