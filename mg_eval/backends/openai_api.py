"""The ``openai`` backend: any OpenAI-compatible chat endpoint (a vLLM or SGLang server, a hosted model).

``mg-eval run --backend openai --model NAME --base-url URL [--api-key-env VAR]``: ``--model`` is the name the
endpoint serves, not a folder. Generation is :class:`mg_eval.models.openai_chat.OpenAIChatGenerator` (images
as base64 PNG data URLs, concurrent requests with retries and backoff through the harness's one HTTP client,
a response cache). The endpoint is probed once before any sample is generated, so an unreachable URL, a
text-only model or a missing key is one error line. Decoding: greedy is temperature 0; sampling sends the
task's temperature / top_p and a per-sample seed; the API has no beam search, so a beam task is decoded
without beams and the run is marked not for reporting with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.api import RunOptions
from mg_eval.backends.base import Backend, BackendCapabilities, DecodingChoice, decoding_mode
from mg_eval.errors import UserInputError

__all__ = ["OPTION_NAMES", "OpenAIBackend"]

#: ``--backend-option`` keys (``--base-url`` and ``--api-key-env`` are spelled as their own flags too)
OPTION_NAMES: tuple[str, ...] = ("base_url", "api_key_env", "cache_dir", "no_cache", "concurrency", "timeout",
                                 "retries")
_NUMBERS = {"concurrency": (int, 1), "timeout": (float, 1e-3), "retries": (int, 0)}


class OpenAIBackend(Backend):
    """Chat models behind an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    name = "openai"
    description = "any OpenAI-compatible chat endpoint (vLLM / SGLang server, hosted model): --model NAME --base-url URL"
    default_protocol = "lmms"  # the benchmarks' generic prompts, what chat models are published with
    capabilities = BackendCapabilities(decoding=frozenset({"greedy", "sampling"}), devices=(), dtypes=(),
                                       distributed=False, options=OPTION_NAMES)

    def check_model(self, model: str | Path) -> Path:
        """The served model's name (kept as given; a ``/`` in it is part of the name, e.g. ``Qwen/Qwen2-VL-7B``)."""
        name = str(model).strip()
        if not name:
            raise UserInputError("--model is empty; with --backend openai name the model the endpoint serves, "
                                 "e.g. --model Qwen/Qwen2-VL-7B-Instruct (see GET <base-url>/models)")
        return Path(name)

    def check_options(self, options: RunOptions) -> None:
        """``--base-url`` given and well formed, the numbers in range, and a named key variable set (before any
        data is read)."""
        settings = dict(options.backend_options or {})
        if not settings.get("base_url"):
            raise UserInputError("--backend openai needs --base-url URL: the endpoint's OpenAI-compatible root, e.g. "
                                 "http://localhost:8000/v1 (vllm serve) or https://api.openai.com/v1")
        for key, (kind, least) in _NUMBERS.items():
            if key in settings:
                try:
                    value = kind(settings[key])
                except (TypeError, ValueError):
                    value = None
                if value is None or value < least:
                    raise UserInputError(f"--backend-option {key}={settings[key]!r} must be a number >= {least:g}")
        client_settings(options)  # URL shape and a named but unset key variable fail here

    def run_dtype(self, options: RunOptions) -> str | None:
        """The endpoint's precision is not ours to know (recorded as ``null``)."""
        return None

    def identity(self, options: RunOptions) -> dict[str, Any]:
        """Name, version and the endpoint (the settings that change answers; the key variable, cache folder,
        concurrency, timeout and retries do not, so changing them keeps the stored predictions)."""
        from mg_eval.judges.chat_client import safe_base_url

        endpoint = safe_base_url(str(options.backend_options["base_url"]))
        return {"name": self.name, "version": self.version(), "options": {"endpoint": endpoint}}

    def decoding_for(self, task_name: str, generation: Mapping[str, Any]) -> DecodingChoice:
        """Greedy and single-beam sampling as the task asks; beams dropped (the API has none), recorded."""
        mode = decoding_mode(generation)
        beams = int(generation.get("num_beams") or 1)
        if beams == 1:
            return DecodingChoice(dict(generation), mode)
        fallback = dict(generation) | {"num_beams": 1}
        how = ("sampled with one beam" if generation.get("do_sample") else "decoded greedily")
        return DecodingChoice(fallback, decoding_mode(fallback),
                              departure=f"the chat-completions API has no beam search: num_beams={beams} dropped, "
                                        f"{how} (task {task_name})")

    def build(self, path: Path, options: RunOptions, context: Any) -> Any:
        """Connect to the endpoint and probe it (one tiny request with an image) before any sample."""
        from mg_eval.models.openai_chat import OpenAIChatGenerator

        return OpenAIChatGenerator.connect(str(path), **client_settings(options))


def client_settings(options: RunOptions) -> dict[str, Any]:
    """``OpenAIChatGenerator.connect`` keywords from the run's backend options (checks the URL and the key
    variable on the way: ``UserInputError`` naming the flag)."""
    from mg_eval.judges.chat_client import DEFAULT_API_KEY_ENV, ChatClient
    from mg_eval.models.openai_chat import BACKEND_FLAGS, BackendRequestError

    settings = dict(options.backend_options or {})
    connect: dict[str, Any] = {"base_url": str(settings["base_url"]),
                               "api_key_env": settings.get("api_key_env") or None,
                               "cache_dir": settings.get("cache_dir"),
                               "use_cache": not bool(settings.get("no_cache"))}
    for key, option in (("concurrency", "max_concurrency"), ("timeout", "timeout"), ("retries", "max_retries")):
        if key in settings:
            connect[option] = _NUMBERS[key][0](settings[key])
    # build (and drop) a client: the URL's shape and the key variable are checked now, before any data is read
    ChatClient("check", base_url=connect["base_url"], api_key_env=connect["api_key_env"] or DEFAULT_API_KEY_ENV,
               flags=BACKEND_FLAGS, failure=BackendRequestError, require_key=connect["api_key_env"] is not None)
    return connect
