"""Training Mini-Gemini the way the official recipe does (docs/official_code.md#training-stages): stages, data, DeepSpeed / DDP loop.

* :mod:`.data` — LLaVA/MGM JSON conversations, label masking per template, collation, length grouping;
* :mod:`.stages` — trainable parameters per stage, LR-multiplier groups, official defaults per size;
* :mod:`.trainer` — :func:`train` (DeepSpeed ZeRO-2 / ZeRO-2-offload / ZeRO-3, or torch DDP), checkpoints
  in the official layout, resume;
* :mod:`.synthetic` — the detail-heavy synthetic VQA set of the CPU-scale claim;

Importing this package imports neither DeepSpeed nor the model; both load when training starts.
"""

from .data import IGNORE_INDEX, TrainingInputError, render_segments, tokenize_with_labels
from .stages import configure_trainable, official_defaults, parameter_groups
from .trainer import TrainConfig, TrainResult, train

__all__ = [
    "IGNORE_INDEX",
    "TrainConfig",
    "TrainResult",
    "TrainingInputError",
    "configure_trainable",
    "official_defaults",
    "parameter_groups",
    "render_segments",
    "tokenize_with_labels",
    "train",
]
