"""Re-scoring saved predictions without a model (``mg-eval score``).

Readers for the official prediction formats (``tasks/<benchmark>/predictions.py``, declared in the folder's
``benchmark.yaml``) turn a file into the per-sample records of the benchmark's scorer; :func:`score_predictions` aggregates them (with a judge where the
benchmark needs one) and :func:`write_score_results` writes the same results record as a run
(``results/SCHEMA.md``).

```python
from mg_eval.rescore import score_predictions
result = score_predictions("eval_tool/LaVIN")            # format detected: mme-eval-tool
result.scores["perception_total"]                         # 963.61...
```
"""

from __future__ import annotations

from mg_eval.rescore.base import SCORER_VERSION, PredictionFormat, ScoreOptions, ScoreResult
from mg_eval.rescore.flow import (
    SAMPLES_FORMAT,
    detect_format,
    prediction_formats,
    score_predictions,
    write_score_results,
)

__all__ = [
    "SAMPLES_FORMAT",
    "prediction_formats",
    "SCORER_VERSION",
    "PredictionFormat",
    "ScoreOptions",
    "ScoreResult",
    "detect_format",
    "score_predictions",
    "write_score_results",
]
