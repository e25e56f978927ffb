"""The ``Generator`` of the ``vllm`` backend: Mini-Gemini served by vLLM's offline engine (``mg_model.vllm``).

Prompts are rendered and tokenised by the checkpoint's :class:`mg_model.MGMProcessor` exactly as for the
``mgm`` backend (official template, official tokenizer rules); the image slot (-200 there) carries the ids of
``"<image>"``, which vLLM's MGM processor replaces by the T visual-token positions; the images go to vLLM as
PIL images and are preprocessed by the same ``MGMImageProcessor``. Answers are the generated token ids decoded
by the same processor and cut at the template's stop strings, as ``MGMGenerator`` does, so greedy answers
are the same text whenever the tokens are the same (tests/test_vllm_backend.py checks every bundled sample).

vLLM is imported only in :meth:`VLLMGenerator.from_pretrained`; its engine's environment variables are set
only around the engine's construction (:func:`engine_environment`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mg_eval.backends.base import decoding_mode
from mg_eval.errors import UserInputError, user_error_from
from mg_eval.models.base import cut_at_stops, hf_generation_kwargs
from mg_eval.models.hashing import weights_hash
from mg_eval.models.mgm import check_checkpoint, encoder_info, template_identity
from mg_model.constants import IMAGE_TOKEN_INDEX

#: KV cache of the CPU engine in GiB when ``kv_cache_gib`` is not given (vLLM refuses to start without one)
DEFAULT_CPU_KV_CACHE_GIB = 1
#: ``LLM(...)`` keywords a user may set through ``--backend-option KEY=VALUE`` (and the run flags that map to
#: them): parallelism, context, memory. Every one is part of the backend identity (prediction fingerprints).
ENGINE_OPTIONS = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "max_model_len",
                  "gpu_memory_utilization", "max_num_seqs", "enforce_eager", "kv_cache_gib")


@contextlib.contextmanager
def engine_environment(device: str, kv_cache_gib: float | None) -> Iterator[None]:
    """The environment vLLM's CPU engine needs, set only while it is built (restored afterwards).

    On CPU: ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache; vLLM refuses to start without it) and
    ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (engine in this process: ~5 s start-up instead of ~30 s, and no
    ``if __name__ == "__main__"`` guard needed). A value the user exported is kept. Nothing on GPU.
    """
    wanted = {}
    if device == "cpu":
        wanted = {"VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib or DEFAULT_CPU_KV_CACHE_GIB),
                  "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        if key not in os.environ or (key == "VLLM_CPU_KVCACHE_SPACE" and kv_cache_gib):
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def engine_device(device: str | None) -> str:
    """``cpu`` or ``cuda`` (``auto``: cuda when vLLM's platform is a GPU one, else cpu)."""
    if device not in (None, "auto"):
        return str(device).split(":")[0]
    from vllm.platforms import current_platform

    return "cpu" if current_platform.is_cpu() else "cuda"


class VLLMGenerator:
    """``Generator`` over vLLM's offline ``LLM`` serving an MGM checkpoint (build with :meth:`from_pretrained`)."""

    def __init__(self, llm: Any, processor: Any, info: dict[str, Any], marker_ids: list[int], visual_tokens: int,
                 prompt_limit: int) -> None:
        self.llm = llm
        self.processor = processor
        self.info = info
        self.template_id = template_identity(processor)
        self.marker_ids = list(marker_ids)  # ids of "<image>" standing where the official ids have -200
        self.visual_tokens = int(visual_tokens)  # T positions one image takes
        self.prompt_limit = int(prompt_limit)  # tokenizer_model_max_length: longer prompts are cut at the end

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: str | None = "auto", device: str | None = "auto",
                        encoder_root: str | None = None, engine_options: Mapping[str, Any] | None = None
                        ) -> VLLMGenerator:
        """Start vLLM's engine on a local MGM checkpoint (official layout); bad input -> ``UserInputError``."""
        from vllm import LLM

        from mg_model.processing_mgm import MGMProcessor
        from mg_model.vision_path import visual_tokens_of
        from mg_model.vllm.processing import ENCODER_ROOT_KEY, image_marker_ids, resolved_checkpoint

        folder = check_checkpoint(path)
        options = dict(engine_options or {})
        device = engine_device(device)
        dtype = dtype if dtype not in (None, "auto") else ("float32" if device == "cpu" else "float16")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        kv_cache_gib = options.pop("kv_cache_gib", None)
        llm_kwargs: dict[str, Any] = {
            "model": str(folder), "dtype": dtype, "seed": 0, "limit_mm_per_prompt": {"image": 1},
            "max_model_len": int(options.pop("max_model_len", None) or config.get("max_position_embeddings", 4096)),
            "enforce_eager": bool(options.pop("enforce_eager", device == "cpu")), **options,
        }
        if encoder_root:
            llm_kwargs["hf_overrides"] = {ENCODER_ROOT_KEY: str(Path(encoder_root).resolve())}
        try:
            processor = MGMProcessor.from_pretrained(str(folder), encoder_root=encoder_root)
            with engine_environment(device, kv_cache_gib):
                llm = LLM(**llm_kwargs)
        except Exception as exc:
            user_error = user_error_from(exc, source=f"checkpoint {folder}")
            if user_error is None:
                raise
            raise user_error from None
        model_config = llm.llm_engine.model_config
        mgm_config = resolved_checkpoint(model_config).config
        info = {
            "name": folder.resolve().name, "path": str(folder.resolve()), "weights_hash": weights_hash(folder),
            "encoders": encoder_info(folder, mgm_config, encoder_root), "config": config, "dtype": dtype,
            "device": device, "device_map": None, "stop_strings": list(processor.stop_strings or []),
            "engine": {key: value for key, value in llm_kwargs.items() if key not in ("model", "hf_overrides")},
        }
        marker = image_marker_ids(llm.get_tokenizer())
        # answers are decoded from token ids by our processor; vLLM's incremental detokenizer (kept for the
        # stop strings) warns on every byte-fallback piece it cannot show yet, which says nothing here
        logging.getLogger("vllm.v1.engine.detokenizer").setLevel(logging.ERROR)
        visual = visual_tokens_of(mgm_config)
        return cls(llm, processor, info, marker, visual, int(mgm_config.tokenizer_model_max_length))

    # ------------------------------------------------------------------------------------------ Generator
    def render_prompt(self, text: str, has_image: bool) -> str:
        """The processor's rendered prompt (template + ``<image>`` marker)."""
        return self.processor.render_prompt(text, has_image=has_image)

    @property
    def context_length(self) -> int:
        """The most prompt tokens the model reads (``tokenizer_model_max_length``; longer prompts are cut at
        the end, as the ``mgm`` backend and the official code do)."""
        return self.prompt_limit

    def input_lengths(self, batch: Mapping[str, Any]) -> list[int]:
        """Prompt tokens of each sample as the LLM sees them (text + T per image)."""
        return [int(length) for length in batch["lengths"]]

    def prepare(self, images: Sequence[Any], texts: Sequence[str]) -> dict[str, Any]:
        """Token prompts for vLLM (runs in a DataLoader worker): ``requests`` (one dict per sample:
        ``prompt_token_ids`` with the ``<image>`` ids at the image slot, ``multi_modal_data``) and ``lengths``
        (tokens per sample once the image takes its T positions)."""
        requests, lengths = [], []
        for image, text in zip(images, texts):
            ids = self.processor.tokenize_prompt(self.processor.render_prompt(text, has_image=image is not None))
            slots = ids.count(IMAGE_TOKEN_INDEX)
            lengths.append(len(ids) + slots * (self.visual_tokens - 1))
            request: dict[str, Any] = {"prompt_token_ids": self._with_markers(ids)}
            if image is not None:
                request["multi_modal_data"] = {"image": image}
            requests.append(request)
        return {"requests": requests, "lengths": lengths}

    def _with_markers(self, ids: list[int]) -> list[int]:
        out: list[int] = []
        for token in ids:
            out.extend(self.marker_ids if token == IMAGE_TOKEN_INDEX else [token])
        return out

    def generate(self, batch: Mapping[str, Any], generation: Mapping[str, Any]) -> list[str]:
        """One stripped answer per sample: greedy exactly as the ``mgm`` backend; beam search / sampling with
        vLLM's own algorithms (a departure the backend records, see ``VLLMBackend.decoding_for``)."""
        requests = [self._fit(request, length) for request, length in zip(batch["requests"], batch["lengths"])]
        kwargs = hf_generation_kwargs(generation)
        stops = list(self.processor.stop_strings or []) + list(generation.get("stop_strings") or [])
        mode = decoding_mode(generation)
        if kwargs["num_beams"] > 1:
            token_lists = self._beam_search(requests, batch["lengths"], kwargs)
        else:
            token_lists = self._sample(requests, kwargs, stops, sampling=mode == "sampling")
        texts = self.processor.batch_decode(token_lists, skip_special_tokens=True)
        return [cut_at_stops(text, stops).strip() for text in texts]

    def _fit(self, request: dict[str, Any], length: int) -> dict[str, Any]:
        """Cut a prompt longer than ``context_length`` at the end (the official rule); an image that would be
        cut itself is an error naming the limit."""
        excess = int(length) - self.prompt_limit
        if excess <= 0:
            return request
        ids = request["prompt_token_ids"]
        start = _find(ids, self.marker_ids) if "multi_modal_data" in request else -1
        if start >= 0 and start + len(self.marker_ids) > len(ids) - excess:
            raise UserInputError(f"a prompt of {length} tokens does not fit the checkpoint's context of "
                                 f"{self.prompt_limit} tokens without cutting its image; raise "
                                 "tokenizer_model_max_length in config.json or shorten the prompt")
        return {**request, "prompt_token_ids": ids[: len(ids) - excess]}

    def _sample(self, requests: list[dict[str, Any]], kwargs: Mapping[str, Any], stops: list[str],
                sampling: bool) -> list[list[int]]:
        import torch
        from vllm import SamplingParams

        params: dict[str, Any] = {"max_tokens": kwargs["max_new_tokens"], "temperature": 0.0,
                                  "stop_token_ids": list(self.processor.eos_token_ids or []), "stop": stops or None}
        if sampling:  # the engine seeded torch for this sample (per-sample seed): derive vLLM's seed from it
            params.update(temperature=float(kwargs.get("temperature", 1.0)), top_p=float(kwargs.get("top_p", 1.0)),
                          seed=int(torch.randint(0, 2**31 - 1, (1,))))
        outputs = self.llm.generate(requests, SamplingParams(**params), use_tqdm=False)
        return [list(output.outputs[0].token_ids) for output in outputs]

    def _beam_search(self, requests: list[dict[str, Any]], lengths: Sequence[int],
                     kwargs: Mapping[str, Any]) -> list[list[int]]:
        from vllm.sampling_params import BeamSearchParams

        params = BeamSearchParams(beam_width=kwargs["num_beams"], max_tokens=kwargs["max_new_tokens"])
        outputs = self.llm.beam_search(requests, params)
        return [list(output.sequences[0].tokens[min(int(length), self.prompt_limit):])
                for output, length in zip(outputs, lengths)]


def _find(sequence: Sequence[int], pattern: Sequence[int]) -> int:
    """Index of the first occurrence of ``pattern`` in ``sequence`` (-1 if absent)."""
    width = len(pattern)
    for start in range(len(sequence) - width + 1):
        if list(sequence[start:start + width]) == list(pattern):
            return start
    return -1
