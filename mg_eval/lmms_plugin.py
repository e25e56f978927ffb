"""lmms-eval plugin: run Mini-Gemini under lmms-eval's own tasks.

Registered through the entry point group ``lmms_eval.models`` (``pyproject.toml``)::

    lmms-eval --model mini_gemini --model_args pretrained=/ckpt/MGM-7B --tasks mme --batch_size 8

``MiniGemini`` is a *simple* lmms model: lmms-eval gives it the task's context string (no image token);
the processor inserts ``<image>\\n`` and renders the checkpoint's own template (as the official MGM
scripts do). Decoding follows lmms-eval's LLaVA wrapper so scores are comparable with it:
``do_sample = temperature > 0`` (the task's ``do_sample`` is ignored), ``max_new_tokens`` defaults
to 1024, ``num_beams`` 1, ``top_p`` None. Unlike that wrapper, ``until`` is honoured (answers are
cut at the first stop string). Requests are grouped by generation kwargs and batched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from mg_eval.engine import distributed
from mg_eval.models.mgm import MGMGenerator


def MANIFESTS() -> list[Any]:  # noqa: N802 - the name the entry point in pyproject.toml points at
    """The entry-point payload: our ``ModelManifest`` (a callable, so that lmms-eval can load it while
    this module is still being imported by lmms-eval's own registry initialisation)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [ModelManifest(model_id="mini_gemini", simple_class_path="mg_eval.lmms_plugin.MiniGemini",
                          aliases=("mgm",))]


try:
    from lmms_eval.api.instance import GenerationResult, Instance, unwrap_generation_output
    from lmms_eval.api.model import lmms
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("mg_eval.lmms_plugin needs lmms-eval: pip install 'mini-gemini-eval[lmms]'") from exc

__all__ = ["MANIFESTS", "MiniGemini"]

LMMS_DEFAULT_MAX_NEW_TOKENS = 1024


class MiniGemini(lmms):
    """lmms-eval model wrapper around ``MGMGenerator`` (batched ``generate_until``, real ``loglikelihood``).

    ``--model_args``: ``pretrained`` (checkpoint dir, required), ``dtype`` (auto|float32|float16|bfloat16),
    ``device`` (auto|cpu|cuda:N), ``device_map`` (e.g. auto: one model over this rank's GPUs).
    """

    is_simple = True

    def __init__(self, pretrained: str, batch_size: int | str = 1, device: str | None = None, dtype: str = "auto",
                 device_map: str | None = None, **unused: Any) -> None:
        super().__init__()
        context = distributed.detect()
        if device in (None, "auto", "cuda") and torch.cuda.is_available() and not device_map:
            device = f"cuda:{context.local_rank}"
        self._generator = MGMGenerator.from_pretrained(pretrained, dtype=dtype, device=device or "auto",
                                                       device_map=device_map)
        self._device = self._generator.input_device
        self._rank, self._world_size = context.rank, context.world_size
        self.batch_size_per_gpu = max(1, int(batch_size))

    @property
    def device(self) -> torch.device:
        """Device of the model's inputs (lmms-eval needs it under multi-process runs)."""
        return self._device

    @property
    def batch_size(self) -> int:
        """Requests per generate call."""
        return self.batch_size_per_gpu

    def _doc_image(self, doc_to_visual: Any, doc_id: int, task: str, split: str) -> Any:
        """The first image of the doc (MGM takes one image), or ``None``."""
        visuals = doc_to_visual(self.task_dict[task][split][doc_id]) if doc_to_visual else []
        visuals = [visual for visual in (visuals or []) if visual is not None]
        return visuals[0].convert("RGB") if visuals else None

    def generate_until(self, requests: Sequence[Instance]) -> list[str]:
        """Batched greedy/sampled generation; answers in request order."""
        answers: list[str | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            key = json.dumps(request.args[1], sort_keys=True, default=str)
            groups.setdefault(key, []).append(index)
        progress = tqdm(total=len(requests), disable=self.rank != 0, desc="mini_gemini generate")
        for indices in groups.values():
            generation = lmms_generation(requests[indices[0]].args[1])
            order = sorted(indices, key=lambda i: -len(requests[i].args[0]))
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                texts, images = [], []
                for i in chunk:
                    context, _, doc_to_visual, doc_id, task, split = requests[i].args
                    images.append(self._doc_image(doc_to_visual, doc_id, task, split))
                    texts.append(context.replace("<image>", "").lstrip("\n ") if images[-1] is not None else context)
                outputs = self._generator.generate(self._generator.prepare(images, texts), generation)
                for i, output in zip(chunk, outputs):
                    answers[i] = output
                progress.update(len(chunk))
        progress.close()
        return [answer if answer is not None else "" for answer in answers]

    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[Instance]) -> list[Any]:
        """Sum of log-probabilities of each continuation after the rendered prompt, and whether greedy
        (``(float, bool)`` per request; see ``_loglikelihood_output`` for the wrapping lmms-eval 0.7.3 needs).

        The continuation is tokenised on its own (no BOS) and appended to the prompt ids; the last
        ``n`` logits of the spliced sequence score it (the image tokens sit before, so the tail aligns).
        """
        results = []
        processor, model = self._generator.processor, self._generator.model
        for request in tqdm(requests, disable=self.rank != 0, desc="mini_gemini loglikelihood"):
            context, target, doc_to_visual, doc_id, task, split = request.args
            continuation = target if isinstance(target, str) else target(self.task_dict[task][split][doc_id])
            image = self._doc_image(doc_to_visual, doc_id, task, split)
            prompt_ids = processor.tokenize_prompt(processor.render_prompt(context, has_image=image is not None))
            continuation_ids = list(processor.tokenizer(continuation, add_special_tokens=False)["input_ids"])
            if not continuation_ids:
                results.append((0.0, True))
                continue
            batch = processor(images=[image], texts=[context]) if image is not None else {}
            input_ids = torch.tensor([prompt_ids + continuation_ids], device=self.device)
            inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
            dtype = next(model.parameters()).dtype
            for key in ("images", "images_aux"):
                if key in batch:
                    inputs[key] = batch[key].to(self.device, dtype)
            logits = model(**inputs).logits[0, -len(continuation_ids) - 1:-1].float()
            log_probs = torch.log_softmax(logits, dim=-1)
            target_ids = torch.tensor(continuation_ids, device=log_probs.device)
            total = float(log_probs.gather(-1, target_ids[:, None]).sum())
            greedy = bool((log_probs.argmax(-1) == target_ids).all())
            results.append(_loglikelihood_output(total, greedy))
        return results

    def generate_until_multi_round(self, requests: Sequence[Instance]) -> list[str]:
        """Not supported: none of the Mini-Gemini benchmarks is multi-round."""
        raise NotImplementedError("mini_gemini does not implement generate_until_multi_round (multi-round "
                                  "chat tasks); use single-round tasks (every task of `mg-eval tasks`)")


def _loglikelihood_output(total: float, greedy: bool) -> Any:
    """``(logprob, is_greedy)`` as lmms-eval's evaluator can use it.

    lmms-eval 0.7.3 passes every response through ``unwrap_generation_output``, which turns a
    ``(float, bool)`` tuple into its string, so multiple-choice tasks fail in ``process_results``.
    A ``GenerationResult`` is unwrapped to its ``text`` untouched, so the tuple travels inside one.
    Where the evaluator keeps tuples (a fixed lmms-eval), the plain tuple is returned.
    """
    pair = (total, greedy)
    if isinstance(unwrap_generation_output(pair)[0], str):
        return GenerationResult(text=pair)  # type: ignore[arg-type]
    return pair


def lmms_generation(gen_kwargs: dict[str, Any]) -> dict[str, Any]:
    """lmms-eval gen_kwargs -> ``MGMGenerator.generate`` settings (LLaVA-wrapper semantics, ``until`` honoured)."""
    temperature = float(gen_kwargs.get("temperature", 0) or 0)
    until = gen_kwargs.get("until") or []
    return {
        "max_new_tokens": int(gen_kwargs.get("max_new_tokens", LMMS_DEFAULT_MAX_NEW_TOKENS)),
        "do_sample": temperature > 0,
        "temperature": temperature if temperature > 0 else None,
        "top_p": gen_kwargs.get("top_p"),
        "num_beams": int(gen_kwargs.get("num_beams", 1) or 1),
        "stop_strings": [until] if isinstance(until, str) else list(until),
    }

