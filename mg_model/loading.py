"""Former home of the checkpoint loader, kept because code outside the package imports ``load_mgm``,
``save_mgm``, ``resolve_encoder_dir`` and the key prefixes from here (docs/model.md#where-the-code-is).
The code lives in :mod:`mg_model.checkpoint.loading`; this module re-exports its ``__all__``."""

from __future__ import annotations

from .checkpoint.loading import *  # noqa: F403
from .checkpoint.loading import __all__  # noqa: F401
