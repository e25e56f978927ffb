"""Re-scoring saved predictions without a model (``mg-eval score``).

Readers for the official prediction formats (one module per benchmark) turn a file into the per-sample
records of ``mg_eval.metrics.<bench>``; :func:`score_predictions` aggregates them (with a judge where the
benchmark needs one) and :func:`write_score_results` writes the same results record as a run
(``results/SCHEMA.md``).

```python
from mg_eval.scoring import score_predictions
result = score_predictions("eval_tool/LaVIN")            # format detected: mme-eval-tool
result.scores["perception_total"]                         # 963.61...
```
"""

from __future__ import annotations

from mg_eval.scoring.base import SCORER_VERSION, PredictionFormat, ScoreOptions, ScoreResult
from mg_eval.scoring.flow import (
    FORMATS,
    SAMPLES_FORMAT,
    detect_format,
    score_predictions,
    write_score_results,
)

__all__ = [
    "FORMATS",
    "SAMPLES_FORMAT",
    "SCORER_VERSION",
    "PredictionFormat",
    "ScoreOptions",
    "ScoreResult",
    "detect_format",
    "score_predictions",
    "write_score_results",
]
