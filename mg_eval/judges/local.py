"""A judge backed by any transformers causal LM stored in a local directory (no network, no hub).

The prompt becomes a chat (optional system message + one user message) rendered with the
tokenizer's chat template when it has one; otherwise the raw prompt (after the system text and a
blank line) is fed as is. Temperature 0 decodes greedily; a positive temperature samples with a
seed derived from the request, inside a forked RNG, so answers are reproducible and the global
torch RNG is left untouched. Generation is serialised by a lock (one model, many threads).
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.stats import JudgeStats

__all__ = ["LocalJudge"]


class LocalJudge:
    """Judge with a local ``AutoModelForCausalLM`` + ``AutoTokenizer`` directory.

    Args:
        path: directory with ``config.json``, weights and tokenizer files.
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        dtype: torch dtype name for the weights (``"float32"``, ``"bfloat16"``, ``"auto"``).
        stats: counters to update.
        max_input_tokens: prompts longer than this are refused with ``JudgeError`` (``None``: the
            model's ``max_position_embeddings`` minus ``max_tokens`` when known).
    """

    max_concurrency = 1

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        stats: JudgeStats | None = None,
        max_input_tokens: int | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.name = f"local:{self.path}"
        self.device = device
        self.stats = stats if stats is not None else JudgeStats()
        self.max_input_tokens = max_input_tokens
        self._lock = threading.Lock()
        self.tokenizer, self.model = _load(self.path, device, dtype)

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, system: str | None = None) -> str:
        """Generate at most ``max_tokens`` new tokens for ``prompt`` and return them decoded (stripped).

        Raises:
            JudgeError: the prompt is too long for the model, or generation failed.
        """
        self.stats.add(requests=1)
        input_ids = self._encode(prompt, system)  # [1, L]
        limit = self._input_limit(max_tokens)
        if limit is not None and input_ids.shape[1] > limit:
            self.stats.add(failures=1)
            raise JudgeError(f"judge {self.name}: prompt has {input_ids.shape[1]} tokens, more than {limit}")
        started = time.perf_counter()
        try:
            with self._lock:
                new_ids = self._generate(input_ids, max_tokens, temperature, prompt, system)
        except (RuntimeError, ValueError) as exc:
            self.stats.add(failures=1)
            raise JudgeError(f"judge {self.name}: generation failed: {exc}") from exc
        finally:
            self.stats.add(calls=1, backend_seconds=time.perf_counter() - started)
        self.stats.add(prompt_tokens=int(input_ids.shape[1]), completion_tokens=int(new_ids.shape[0]))
        return self.tokenizer.decode(new_ids, skip_special_tokens=True).strip()

    def complete_many(self, requests: list[JudgeRequest], **kwargs: Any) -> list[str | Exception]:
        """Answer many requests one after another (generation is serialised)."""
        kwargs.setdefault("max_workers", 1)
        return complete_many(self, requests, **kwargs)

    def describe(self) -> dict[str, Any]:
        """What to record in results about this judge."""
        return {"name": self.name, "kind": "local", "model": str(self.path), "device": self.device,
                "chat_template": bool(getattr(self.tokenizer, "chat_template", None))}

    def __repr__(self) -> str:
        return f"LocalJudge(path={str(self.path)!r}, device={self.device!r})"

    # ------------------------------------------------------------------ internals

    def _encode(self, prompt: str, system: str | None) -> Any:
        """Token ids ``[1, L]`` of the rendered prompt, on the model's device."""
        import torch

        if getattr(self.tokenizer, "chat_template", None):
            messages = [] if system is None else [{"role": "system", "content": system}]
            messages.append({"role": "user", "content": prompt})
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            text = prompt if system is None else f"{system}\n\n{prompt}"
            ids = self.tokenizer(text)["input_ids"]
        return torch.tensor([ids], dtype=torch.long, device=self.model.device)

    def _input_limit(self, max_tokens: int) -> int | None:
        if self.max_input_tokens is not None:
            return self.max_input_tokens
        positions = getattr(self.model.config, "max_position_embeddings", None)
        return None if positions is None else max(1, int(positions) - int(max_tokens))

    def _generate(self, input_ids: Any, max_tokens: int, temperature: float, prompt: str,
                  system: str | None) -> Any:
        """New token ids ``[T]`` (T <= max_tokens) for ``input_ids [1, L]``."""
        import torch

        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_tokens), "pad_token_id": pad_id,
                                  "attention_mask": torch.ones_like(input_ids)}
        if temperature <= 0.0:
            kwargs.update(do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None)
            with torch.inference_mode():
                out = self.model.generate(input_ids, **kwargs)
        else:
            kwargs.update(do_sample=True, temperature=float(temperature), top_p=1.0, top_k=0)
            seed = _request_seed(prompt, system, temperature)
            devices = [self.model.device] if self.model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(seed)
                out = self.model.generate(input_ids, **kwargs)
        return out[0, input_ids.shape[1]:]


def _request_seed(prompt: str, system: str | None, temperature: float) -> int:
    digest = hashlib.sha256(f"{system}\x00{prompt}\x00{temperature!r}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _load(path: Path, device: str, dtype: str) -> tuple[Any, Any]:
    """Load tokenizer and model from ``path`` with no network access; clear errors on a bad path."""
    if not (path / "config.json").is_file():
        raise UserInputError(
            f"local judge: {path} is not a transformers model directory (no config.json). "
            "Pass --judge local:/path/to/model where the folder holds config.json, weights and tokenizer files."
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=torch_dtype)
    except (OSError, ValueError, AttributeError) as exc:
        raise UserInputError(f"local judge: cannot load a causal LM + tokenizer from {path}: {exc}") from exc
    try:
        model.to(device)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise UserInputError(f"local judge: cannot place {path} on device {device!r}: {exc}") from exc
    model.eval()
    return tokenizer, model
