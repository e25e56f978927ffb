"""The ``mgm`` backend: the reference HF path over ``mg_model`` (``mg_eval.models.mgm.MGMGenerator``).

It is the default backend. Its predictions' fingerprints carry no backend field, so stores made before
backends existed stay valid (tests/test_backends.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mg_eval.api import DEFAULT_BACKEND, RunOptions
from mg_eval.backends.base import DECODING_MODES, Backend, BackendCapabilities
from mg_eval.errors import UserInputError


class MGMBackend(Backend):
    """Mini-Gemini checkpoints (official layout) through ``MGMForCausalLM`` + ``MGMProcessor``."""

    name = DEFAULT_BACKEND
    description = "Mini-Gemini checkpoints through mg_model (HF generate; the reference)"
    capabilities = BackendCapabilities(
        decoding=frozenset(DECODING_MODES), sharing=True, continuous=True, devices=("cpu", "cuda", "mps"),
        decode_options=frozenset({"attn", "compile"}), device_map=True, encoder_root=True, distributed=True)

    def check_model(self, model: str | Path) -> Path:
        """A folder with config.json, readable shards and an MGM ``model_type`` (before any data is read)."""
        from mg_eval.models.mgm import check_checkpoint

        return check_checkpoint(model)

    def check_options(self, options: RunOptions) -> None:
        """A bad decode option, or ``--continuous`` with ``--compile``, fails before any model is loaded."""
        from mg_eval.models.mgm import decode_options

        decode = decode_options(dict(options.decode or {})).as_dict()
        if options.continuous and decode["cache"] != "dynamic":
            raise UserInputError("--continuous cannot be combined with --compile (the continuous scheduler uses a "
                                 "dynamic KV cache); drop one of them")

    def run_dtype(self, options: RunOptions) -> str | None:
        """``auto`` resolved as the model will be loaded (float16 on GPU, float32 on CPU)."""
        from mg_eval.models.mgm import resolve_device, resolve_dtype

        return resolve_dtype(options.dtype, resolve_device(options.device))

    def build(self, path: Path, options: RunOptions, context: Any) -> Any:
        """Load the checkpoint once; under NCCL each rank uses its local GPU."""
        import torch

        from mg_eval.models.mgm import MGMGenerator, decode_options

        device = options.device
        if device in (None, "auto") and context.distributed and torch.cuda.is_available() and not options.device_map:
            device = f"cuda:{context.local_rank}"
        return MGMGenerator.from_pretrained(path, dtype=options.dtype, device=device, device_map=options.device_map,
                                            encoder_root=options.encoder_root,
                                            decode=decode_options(dict(options.decode or {})).as_dict())
