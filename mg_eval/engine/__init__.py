"""The evaluation engine: runner, prediction store, distributed sharding, results schema.

``from mg_eval.engine import evaluate`` is the entry point (see ``mg_eval.engine.runner``).
"""

from mg_eval.engine.runner import RunResult, evaluate

__all__ = ["RunResult", "evaluate"]
