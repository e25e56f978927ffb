"""Model adapters for the engine: the ``Generator`` protocol and the Mini-Gemini implementation."""

from mg_eval.models.base import Generator, sample_seed
from mg_eval.models.mgm import MGMGenerator

__all__ = ["Generator", "MGMGenerator", "sample_seed"]
