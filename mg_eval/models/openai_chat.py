"""A ``Generator`` over any OpenAI-compatible chat endpoint (a vLLM or SGLang server, a hosted model).

Each sample is one chat request: a user message whose content is the image (a base64 PNG data URL, the
RGB pixels the task decoded) followed by the task's prompt text; the endpoint applies its own chat
template. The HTTP work (retries with backoff, the concurrency limit, the key) is the harness's one
client, :class:`mg_eval.judges.chat_client.ChatClient`. Answers are kept in a response cache keyed like
the judge cache (the model and endpoint, the request: messages with images as digests, ``max_tokens``,
``temperature``, ``top_p``, ``seed``), written before they are returned, so a run killed in the middle of
a batch re-sends nothing already answered. The API key is read from the environment variable the user
names and is never recorded: not in results, fingerprints, logs or the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mg_eval.errors import UserInputError
from mg_eval.judges.cache import JudgeCache
from mg_eval.judges.chat_client import DEFAULT_API_KEY_ENV, ChatClient, ClientFlags, image_part, text_part
from mg_eval.judges.stats import JudgeStats
from mg_eval.models.base import sample_seed

__all__ = ["BACKEND_FLAGS", "DEFAULT_RESPONSE_CACHE", "BackendRequestError", "OpenAIChatGenerator",
           "chat_request_key", "probe_endpoint"]

BACKEND_FLAGS = ClientFlags("backend", "--base-url", "--api-key-env",
                            "drop --api-key-env if the endpoint needs no key")
#: where answers are cached unless the run names another folder (``--backend-option cache_dir=DIR``)
DEFAULT_RESPONSE_CACHE = Path("~/.cache/mg_eval/responses")
RESPONSE_CACHE_FILENAME = "responses.sqlite"
#: how a sample is put into a chat message; part of every prediction fingerprint (``template_id``)
MESSAGE_LAYOUT = "openai-chat/v1: one user message, [image part (PNG data URL)], text part"
#: HTTP statuses with which a server turns down a request it cannot take (here: the probe's image)
_REFUSALS = frozenset({400, 415, 422})


class BackendRequestError(UserInputError):
    """The endpoint did not answer a request after every retry. Predictions made so far are on disk and
    answered requests are cached: the message says to rerun the same command once the endpoint answers."""


def chat_request_key(identity: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> tuple[str, str]:
    """``(sha256 hex, canonical JSON)`` of one request, as :func:`mg_eval.judges.cache.request_key` keys a judge's.

    Images enter as the sha256 of their data URL (the canonical JSON stays small and holds no pixels).
    """
    def digest_part(part: Any) -> Any:
        if isinstance(part, Mapping) and part.get("type") == "image_url":
            url = str(part["image_url"]["url"])
            return {"type": "image", "sha256": hashlib.sha256(url.encode("ascii")).hexdigest()}
        return part

    light = [{"role": message["role"], "content": [digest_part(part) for part in message["content"]]
              if isinstance(message["content"], list) else message["content"]} for message in messages]
    payload = {"backend": identity, "messages": light, **params}
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest(), canonical


def request_params(generation: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The decoding fields of one request: greedy -> temperature 0; sampling -> the task's temperature, top_p
    and a per-sample seed (from the task seed and the messages, image included, so it does not depend on the
    batch)."""
    params: dict[str, Any] = {"max_tokens": int(generation.get("max_new_tokens") or 128), "temperature": 0.0}
    if generation.get("do_sample"):
        params["temperature"] = float(generation.get("temperature") if generation.get("temperature") is not None
                                      else 1.0)
        if generation.get("top_p") is not None:
            params["top_p"] = float(generation["top_p"])
        content = json.dumps(list(messages), sort_keys=True).encode("utf-8")
        params["seed"] = sample_seed(generation.get("seed"), hashlib.sha256(content).hexdigest())
    return params


def probe_endpoint(client: ChatClient) -> None:
    """One cheap request (an 8x8 image, ``max_tokens=1``) before any sample is generated.

    Raises ``UserInputError`` naming the endpoint and the fix: it cannot be reached, it refuses the image
    (a text-only model), or it rejects the key / model / URL. A transient failure (429, 5xx, a malformed
    reply) passes: the samples' own requests retry with backoff.
    """
    from PIL import Image

    probe = [{"role": "user", "content": [image_part(Image.new("RGB", (8, 8), (128, 128, 128))),
                                          text_part("Describe the image in one word.")]}]
    outcome = client.chat_once(probe, max_tokens=1)
    where = f"backend {client.name} at {client.safe_base_url}"
    if outcome.text is not None or outcome.status in (408, 409, 429) or (outcome.status or 0) >= 500:
        return
    if outcome.status in _REFUSALS:
        raise UserInputError(f"{where} refused a request with an image ({outcome.error}); it does not take image "
                             "input: serve a vision-language model (e.g. `vllm serve <a VLM>`), or check --model")
    if outcome.status is None and str(outcome.error).startswith(("connection error", "timed out")):
        raise UserInputError(f"{where} cannot be reached ({outcome.error}); start the server or fix --base-url "
                             "(an OpenAI-compatible root, e.g. http://localhost:8000/v1)")
    if outcome.status is not None:
        raise UserInputError(f"{where} refused the probe request ({outcome.error}); check --model and --base-url")


class OpenAIChatGenerator:
    """``mg_eval.api.Generator`` over an OpenAI-compatible chat endpoint (see the module docstring).

    Args:
        client: the HTTP client (model, endpoint, key, retries, concurrency).
        cache: the response cache, or ``None`` to send every request.

    ``identity`` (``openai:<model>@<host>``) keys the cached answers and, as ``api:<identity>``, stands for the
    weights hash in the prediction fingerprints; ``stats`` counts requests, cache hits, HTTP calls and retries.
    """

    per_sample_preprocessing = False

    def __init__(self, client: ChatClient, cache: JudgeCache | None) -> None:
        self.client = client
        self.cache = cache
        self.stats = client.stats
        self.identity = client.cache_identity  # openai:<model>@<host>; the port is left out (a server may move)
        self.template_id = hashlib.sha256(MESSAGE_LAYOUT.encode()).hexdigest()[:16]
        self.info: dict[str, Any] = {
            "name": client.model,
            "path": client.safe_base_url,
            "weights_hash": f"api:{self.identity}",
            "encoders": None,
            "config": {"api": client.describe(), "message_layout": MESSAGE_LAYOUT,
                       "response_cache": str(cache.path) if cache is not None else None},
            "dtype": None,
            "device": "api",
            "device_map": None,
            "stop_strings": [],
        }

    @classmethod
    def connect(cls, model: str, base_url: str, *, api_key_env: str | None = None, cache_dir: str | Path | None = None,
                use_cache: bool = True, probe: bool = True, **client_options: Any) -> OpenAIChatGenerator:
        """Build the client (the key read from ``api_key_env``; named and unset -> ``UserInputError``), open the
        response cache, and probe the endpoint (:func:`probe_endpoint`). ``client_options``: ``ChatClient``'s."""
        client = ChatClient(model, base_url=base_url, api_key_env=api_key_env or DEFAULT_API_KEY_ENV,
                            flags=BACKEND_FLAGS, failure=BackendRequestError, require_key=api_key_env is not None,
                            stats=JudgeStats(), **client_options)
        cache = None
        if use_cache:
            cache = JudgeCache(cache_dir if cache_dir is not None else DEFAULT_RESPONSE_CACHE,
                               filename=RESPONSE_CACHE_FILENAME, option="--backend-option cache_dir=",
                               what="response cache")
        if probe:
            probe_endpoint(client)
        return cls(client, cache)

    def render_prompt(self, text: str, has_image: bool) -> str:
        """What is recorded as the sample's prompt: the user message, ``<image>`` where the image part goes
        (the endpoint applies its own chat template around it)."""
        return f"<image>\n{text}" if has_image else text

    def prepare(self, images: Sequence[Any], texts: Sequence[str]) -> dict[str, Any]:
        """One chat message list per sample (runs in DataLoader workers: the PNG encoding happens there)."""
        messages = []
        for image, text in zip(images, texts):
            content = ([image_part(image)] if image is not None else []) + [text_part(text)]
            messages.append([{"role": "user", "content": content}])
        return {"messages": messages, "texts": list(texts)}

    def generate(self, batch: Mapping[str, Any], generation: Mapping[str, Any]) -> list[str]:
        """One stripped answer per sample, the batch's requests sent concurrently (cache first).

        Raises ``BackendRequestError`` when a request fails after every retry (the answers of the batch that
        did come back are cached, so the rerun that resumes the run does not ask for them again).
        """
        jobs = [(messages, request_params(generation, messages)) for messages in batch["messages"]]
        workers = max(1, min(self.client.max_concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._answer, messages, params) for messages, params in jobs]
            errors = [future.exception() for future in futures]
        failed = next((error for error in errors if error is not None), None)
        if failed is not None:
            if isinstance(failed, BackendRequestError):
                raise BackendRequestError(f"{failed}; the predictions made so far are stored and answered requests "
                                          "cached: rerun the same command once the endpoint answers") from None
            raise failed
        return [future.result().strip() for future in futures]

    def _answer(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        if self.cache is None:
            return self._ask(messages, params)
        key, canonical = chat_request_key(self.identity, messages, params)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.add(requests=1, hits=1)
            return cached
        self.stats.add(misses=1)
        text = self._ask(messages, params)
        self.cache.put(key, self.identity, canonical, text)
        return text

    def _ask(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
        extra = {key: value for key, value in params.items() if key not in ("max_tokens", "temperature")}
        return self.client.chat(messages, max_tokens=params["max_tokens"], temperature=params["temperature"],
                                params=extra or None)

    def __getstate__(self) -> dict[str, Any]:
        """A copy for DataLoader workers: it can ``prepare`` batches but holds neither the client (the key)
        nor the cache connection nor the counters, so it cannot send requests."""
        return {**self.__dict__, "client": None, "cache": None, "stats": None}
