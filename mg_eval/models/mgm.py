"""The adapter from ``mg_model`` to the engine: build ``MGMForCausalLM`` + ``MGMProcessor`` once, generate batches."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from mg_eval.errors import UserInputError, user_error_from
from mg_eval.models.base import cut_at_stops, hf_generation_kwargs
from mg_eval.models.hashing import weight_files, weights_hash
from mg_model.generation.fast_decode import DecodeOptions, apply_decode_options, generate_kwargs

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str | None) -> str:
    """``auto`` / ``None`` -> ``cuda`` when available, else ``cpu``."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str) -> str:
    """``auto`` -> ``float16`` on GPU (the official scripts' dtype), ``float32`` on CPU."""
    if dtype in (None, "auto"):
        return "float32" if device == "cpu" else "float16"
    if dtype not in _DTYPES:
        raise UserInputError(f"--dtype {dtype!r} is not supported; use one of {sorted(_DTYPES)} or auto")
    return dtype


def check_checkpoint(path: str | Path) -> Path:
    """Fail fast (before loading anything) when ``path`` is not a checkpoint directory."""
    folder = Path(path)
    if not folder.exists():
        raise UserInputError(f"checkpoint {folder} does not exist; pass --model PATH of a local checkpoint "
                             "directory (the hub is not used), or run `mg-eval demo` to build a tiny one")
    if not (folder / "config.json").is_file():
        raise UserInputError(f"checkpoint {folder} has no config.json; --model must point at the checkpoint "
                             "folder itself (the one holding config.json and the weight shards)")
    _preflight(folder)
    return folder


def _preflight(folder: Path) -> None:
    """The checkpoint checks mg_model makes first, run now (cheap: config.json, the shard index and the shards'
    headers, generation_config.json, model_type, the config's keys and value types) so a broken checkpoint fails before any model is built. ``evaluate`` runs them
    after the data's checks (cheaper still), so bad data is named first."""
    from mg_model.checkpoint.dirs import read_checkpoint_config, read_json_file
    from mg_model.checkpoint.tensors import check_weight_headers, checkpoint_files
    from mg_model.configuration_mgm import CONFIG_CLASS_OF_TYPE, config_from_dict

    try:
        values = read_checkpoint_config(folder)
        check_weight_headers(checkpoint_files(folder))
        if (folder / "generation_config.json").is_file():
            read_json_file(folder / "generation_config.json")
        model_type = values.get("model_type", "mgm") if isinstance(values, dict) else None
        if model_type not in CONFIG_CLASS_OF_TYPE:
            raise UserInputError(f"checkpoint {folder}: {folder / 'config.json'} model_type {model_type!r} is not an "
                                 f"MGM type (expected one of {sorted(CONFIG_CLASS_OF_TYPE)}); --model must be an MGM "
                                 "checkpoint")
        config_from_dict(values)  # keys and value types (the CLIP-dependent checks wait for the encoder folder)
    except Exception as exc:
        user_error = user_error_from(exc, source=f"checkpoint {folder}")
        if user_error is None:
            raise
        raise user_error from None


class MGMGenerator:
    """``Generator`` over ``mg_model.MGMForCausalLM`` (see ``mg_eval.models.base`` for batch invariance).

    Build with ``MGMGenerator.from_pretrained(path, dtype="auto", device="auto", device_map=None)``.
    ``device_map`` (e.g. ``"auto"``) spreads a model too big for one GPU across the GPUs of this rank.
    """

    def __init__(self, model: Any, processor: Any, info: dict[str, Any], share: bool = True):
        self.model = model
        self.processor = processor
        self.info = info
        self.share = share  # vision-feature cache + shared-prefix prefill (see ``set_sharing``)
        self.feature_cache = None
        self._image_key_salt = hashlib.sha256(
            (repr(getattr(processor, "image_processor", None)) + "\x00" + str(info.get("weights_hash"))).encode()
        ).hexdigest()
        self.template_id = template_identity(processor)

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: str | None = "auto", device: str | None = "auto",
                        device_map: str | dict | None = None, encoder_root: str | None = None,
                        decode: dict[str, Any] | None = None, adapter: str | Path | None = None) -> MGMGenerator:
        """Load model + processor from a local checkpoint directory (no hub access).

        ``decode``: ``mg_model.generation.fast_decode.DecodeOptions`` fields (``attn``, ``cache``, ``compile``);
        default = the official numerics. ``adapter``: a stage-1 ``mm_projector.bin`` loaded over the
        checkpoint's projector and mining modules (a projector-only training checkpoint on its base); its
        weights join ``weights_hash``.
        """
        from mg_model import MGMForCausalLM, MGMProcessor

        folder = check_checkpoint(path)
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        load_kwargs: dict[str, Any] = {"torch_dtype": _DTYPES[dtype]}
        if encoder_root:
            load_kwargs["encoder_root"] = encoder_root
        if device_map:
            load_kwargs["device_map"] = device_map
        try:  # mg_model's checkpoint/config errors name the file but not always the checkpoint: add it
            model = MGMForCausalLM.from_pretrained(str(folder), **load_kwargs)
            processor = MGMProcessor.from_pretrained(str(folder), encoder_root=encoder_root)
        except Exception as exc:
            user_error = user_error_from(exc, source=f"checkpoint {folder}")
            if user_error is None:
                raise
            raise user_error from None
        if adapter is not None:
            _load_adapter(model, Path(adapter))
        if not device_map:
            model = model.to(device)
        model.eval()
        options = decode_options(decode)
        apply_decode_options(model, options)
        info = {
            "name": folder.resolve().name,
            "path": str(folder.resolve()),
            "weights_hash": _combined_hash(folder, adapter),
            "encoders": encoder_info(folder, model.config, encoder_root),
            "config": json.loads((folder / "config.json").read_text(encoding="utf-8")),
            "dtype": dtype,
            "device": device,
            "device_map": device_map,
            "stop_strings": list(processor.stop_strings or []),
            "decode": options.as_dict(),
        }
        return cls(model, processor, info)

    @property
    def context_length(self) -> int:
        """The most tokens the model reads per sample (``tokenizer_model_max_length``; longer inputs are cut
        at the end, as the official ``prepare_inputs_labels_for_multimodal`` does)."""
        return int(self.model.config.tokenizer_model_max_length)

    @functools.cached_property
    def visual_tokens(self) -> int:
        """Visual tokens one image placeholder becomes: N CLIP tokens x (grid² + global view)."""
        config = self.model.config
        vision = dict(getattr(config, "mm_vision_config", None) or {})
        side = int(vision.get("image_size", 336)) // int(vision.get("patch_size", 14))
        per_view = side * side + (1 if getattr(config, "mm_vision_select_feature", "patch") == "cls_patch" else 0)
        grid = int(getattr(config, "image_grid", 1) or 1)
        return per_view * (grid * grid + int(bool(getattr(config, "image_global", False)))) if grid > 1 else per_view

    def input_lengths(self, batch: dict[str, Any]) -> list[int]:
        """Tokens each sample of a prepared batch feeds the LLM: text tokens + visual tokens per image.

        ``batch``: ``prepare`` output (input_ids [B, L] with -200 at image slots, attention_mask [B, L]).
        """
        from mg_model import IMAGE_TOKEN_INDEX

        valid = batch["attention_mask"].bool()
        images = ((batch["input_ids"] == IMAGE_TOKEN_INDEX) & valid).sum(dim=1)
        return (valid.sum(dim=1) + images * (self.visual_tokens - 1)).tolist()

    @property
    def input_device(self) -> torch.device:
        """Where input tensors go (the first parameter's device; correct with a device_map too)."""
        return next(self.model.parameters()).device

    def render_prompt(self, text: str, has_image: bool) -> str:
        """The processor's rendered prompt (template + ``<image>`` marker)."""
        return self.processor.render_prompt(text, has_image=has_image)

    def prepare(self, images: list[Image.Image | None], texts: list[str]) -> dict[str, Any]:
        """Processor output for one batch (CPU): input_ids [B, L] left padded, attention_mask [B, L],
        images [B, 3, H, W] (or HD [B, 5, 3, H, W]), images_aux [B, 3, S, S]; plus ``image_keys``
        [B, 32] uint8 (one sha256 per sample, zeros without image; see :func:`image_key`)."""
        batch = dict(self.processor(images=images, texts=texts))
        batch["image_keys"] = torch.stack([image_key(image, self._image_key_salt) for image in images])
        return batch

    def set_sharing(self, enabled: bool, cache_bytes: int | None = None) -> None:
        """Turn the vision-feature cache + shared-prefix prefill on or off (off = the plain path).

        On, ``generate`` encodes each distinct image once (a byte-bounded LRU ``FeatureCache``, default
        1 GiB, kept across batches of this generator) and prefills each shared prompt prefix once
        (``mg_model.generation.prefix_sharing``). Same tokens as the plain path (tests/test_prefix_sharing.py).
        """
        from mg_model.generation.feature_cache import DEFAULT_CACHE_BYTES, FeatureCache

        self.share = bool(enabled)
        self.feature_cache = FeatureCache(cache_bytes or DEFAULT_CACHE_BYTES) if self.share else None

    def sharing_report(self) -> dict[str, Any]:
        """For results.json: whether sharing was on, and the feature cache's counters."""
        cache = self.feature_cache.stats() if self.feature_cache is not None else None
        return {"enabled": bool(self.share), "feature_cache": cache}

    @property
    def per_sample_preprocessing(self) -> bool:
        """Whether the engine should spread preprocessing over workers sample by sample.

        Worth it when an image costs tens of ms or more to preprocess (HR side >= 512 px: ~90 ms LR,
        ~320 ms HD per image on one core); for tiny test models the per-sample IPC costs more than it saves.
        """
        return int(getattr(self.processor.image_processor, "image_size_aux", 0) or 0) >= 512

    def prepare_sample(self, image: Image.Image | None, text: str) -> dict[str, Any]:
        """One sample processed alone (runs in a DataLoader worker): the processor's batch of one."""
        return self.prepare([image], [text])

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Merge ``prepare_sample`` outputs into the batch ``prepare`` would build for the same samples.

        input_ids [B, L] left padded with the processor's pad id, attention_mask [B, L], and when any
        sample has an image: images [B, ...] and images_aux [B, 3, S, S] (zeros for text-only samples,
        as the processor does). Checked against ``prepare`` in tests/test_cli_run.py.
        """
        ids = [sample["input_ids"][0][sample["attention_mask"][0].bool()] for sample in samples]
        length = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), length), int(self.processor.pad_token_id), dtype=torch.long)
        attention_mask = torch.zeros((len(ids), length), dtype=torch.long)
        for row, sequence in enumerate(ids):
            input_ids[row, length - len(sequence):] = sequence
            attention_mask[row, length - len(sequence):] = 1
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if all("image_keys" in sample for sample in samples):
            batch["image_keys"] = torch.cat([sample["image_keys"] for sample in samples])
        if any("images" in sample for sample in samples):
            blank = self.processor.image_processor.blank(1)
            for key in ("images", "images_aux"):
                batch[key] = torch.cat([sample[key] if key in sample else blank[key] for sample in samples])
        return batch

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        device = self.input_device
        dtype = next(self.model.parameters()).dtype
        moved = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(device, non_blocking=True)
                if value.is_floating_point():
                    value = value.to(dtype)
            moved[key] = value
        return moved

    def split_requests(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One input dict per sample of a prepared batch, on the model's device (for ``generate_stream``)."""
        return split_requests(batch, self.input_device, next(self.model.parameters()).dtype)

    @property
    def can_stream(self) -> bool:
        """Whether continuous batching applies: full-attention KV caches only (no sliding window)."""
        from mg_model.generation.continuous import supports_continuous

        return supports_continuous(self.model)

    def row_processor(self) -> Any:
        """Logits processor over the active rows of the continuous decoder (None: plain greedy)."""
        return None

    def generate_stream(self, requests: Any, generation: dict[str, Any], batch_size: int) -> Any:
        """Continuous batching (greedy): ``(key, request)`` pairs in, ``(key, stripped answer)`` out as rows finish.

        ``request``: a :meth:`split_requests` dict, optionally with ``state`` for :meth:`row_processor`.
        Same stopping as :meth:`generate`: the processor's eos ids, the template's stop strings, max_new_tokens.
        """
        from mg_model.generation.continuous import ContinuousDecoder, Request

        options = decode_options(self.info.get("decode"))
        if options.cache != "dynamic":
            raise UserInputError("--continuous cannot be combined with --compile (the continuous scheduler "
                                 "uses a dynamic KV cache); drop one of them")
        stops = list(getattr(self.processor, "stop_strings", []) or []) + list(generation.get("stop_strings") or [])
        eos = getattr(self.processor, "eos_token_ids", None) or [self.model.generation_config.eos_token_id]
        decoder = ContinuousDecoder(self.model, batch_size, eos if isinstance(eos, (list, tuple)) else [eos],
                                    stop=_stop_check(getattr(self.processor, "tokenizer", None), stops),
                                    row_processor=self.row_processor())
        max_new = hf_generation_kwargs(generation)["max_new_tokens"]
        stream = (Request(key, {k: v for k, v in request.items() if k != "state"}, max_new, request.get("state"))
                  for key, request in requests)
        for key, tokens in decoder.run(stream):
            yield key, self._response(tokens, stops)

    def _response(self, tokens: list[int], stops: list[str]) -> str:
        text = self.processor.batch_decode(torch.tensor([tokens]), skip_special_tokens=True)[0]
        return cut_at_stops(text, stops).strip()

    @torch.inference_mode()
    def generate(self, batch: dict[str, Any], generation: dict[str, Any]) -> list[str]:
        """Generate for a prepared batch; returns one stripped string per sample.

        ``generation``: the task's kwargs (``hf_generation_kwargs``) plus optional extra ``stop_strings``
        (the template's stops always apply). eos / pad ids are the processor's (as the official scripts).
        """
        kwargs = hf_generation_kwargs(generation)
        stops = list(getattr(self.processor, "stop_strings", []) or []) + list(generation.get("stop_strings") or [])
        for key, attribute in (("eos_token_id", "eos_token_ids"), ("pad_token_id", "pad_token_id")):
            value = getattr(self.processor, attribute, None)
            if value is not None:
                kwargs[key] = value
        if stops:
            kwargs["stop_strings"] = stops
            if getattr(self.processor, "tokenizer", None) is not None:
                kwargs["tokenizer"] = self.processor.tokenizer
        inputs = {key: value for key, value in self._to_device(batch).items()
                  if key in ("input_ids", "attention_mask", "images", "images_aux")}
        options = decode_options(self.info.get("decode"))
        if self.share and batch.get("image_keys") is not None:
            if self.feature_cache is None:
                self.set_sharing(True)
            keys = [bytes(row.tolist()).hex() if bool(row.any()) else None for row in batch["image_keys"].cpu()]
            # shared-prefix prefill builds a dynamic KV cache: with --compile's static cache only the features are shared
            inputs |= {"image_keys": keys, "feature_cache": self.feature_cache,
                       "share_prefix": options.cache == "dynamic"}
        out_ids = self.model.generate(**inputs, **kwargs, **generate_kwargs(options, self.input_device.type))
        texts = self.processor.batch_decode(out_ids, skip_special_tokens=True)
        return [cut_at_stops(text, stops).strip() for text in texts]


def _load_adapter(model: Any, adapter: Path) -> None:
    """Stage-1 projector + mining weights over the base's (``mg_model.train.stages.load_adapter``)."""
    from mg_model.train.stages import load_adapter

    try:
        load_adapter(model, adapter)
    except Exception as exc:
        user_error = user_error_from(exc, source=f"adapter {adapter}")
        if user_error is None:
            raise
        raise user_error from None


def _combined_hash(folder: Path, adapter: str | Path | None) -> str:
    """The checkpoint's weights hash, or with an adapter the hash of (base hash, adapter folder's hash)."""
    base = weights_hash(folder)
    if adapter is None:
        return base
    combined = hashlib.sha256(f"{base}\0{weights_hash(Path(adapter).parent)}".encode()).hexdigest()
    return f"sha256:{combined}"


def template_identity(processor: Any) -> str:
    """Identity of the prompts a processor renders (16 hex digits; part of every prediction fingerprint)."""
    return hashlib.sha256(
        (processor.render_prompt("\x00TEXT\x00", has_image=True) + "\x01"
         + processor.render_prompt("\x00TEXT\x00", has_image=False)).encode()).hexdigest()[:16]


def encoder_info(checkpoint: Path, config: Any, encoder_root: str | None) -> dict[str, Any]:
    """The vision encoders the model loaded: configured name, resolved folder, whether it lies inside the
    checkpoint (then ``weights_hash`` covers it) and its own weights hash (cached; see ``hashing``)."""
    from mg_model.checkpoint.loading import resolve_encoder_dir

    found = {}
    for key in ("mm_vision_tower", "mm_vision_tower_aux"):
        configured = getattr(config, key, None)
        if not configured:
            continue
        folder = resolve_encoder_dir(str(configured), checkpoint, encoder_root)
        resolved = folder.resolve() if folder is not None else None
        inside = resolved is not None and resolved.is_relative_to(checkpoint.resolve())
        found[key] = {"configured": str(configured), "path": str(resolved) if resolved else None, "inside_checkpoint": inside,
                      "weights_hash": weights_hash(resolved) if resolved and weight_files(resolved) else None}
    return found


def split_requests(batch: dict[str, Any], device: Any, dtype: Any) -> list[dict[str, Any]]:
    """A prepared batch -> one input dict per sample (input_ids [1, L] without padding, images [1, ...]),
    on ``device``, floating tensors in ``dtype``."""
    requests = []
    for row in range(batch["input_ids"].shape[0]):
        valid = batch["attention_mask"][row].bool()
        request = {"input_ids": batch["input_ids"][row][valid][None].to(device),
                   "attention_mask": batch["attention_mask"][row][valid][None].to(device)}
        for key in ("images", "images_aux"):
            if key in batch:
                request[key] = batch[key][row:row + 1].to(device, dtype)
        requests.append(request)
    return requests


def decode_options(values: dict[str, Any] | None) -> DecodeOptions:
    """``DecodeOptions`` from a dict; a bad value raises ``UserInputError`` naming the option."""
    try:
        return DecodeOptions.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"decode options {values}: {exc} (mg-eval run --attn eager|sdpa, --compile)") from None


def _stop_check(tokenizer: Any, stops: list[str]) -> Any:
    """Per-row stop-string check (transformers' ``StopStringCriteria`` on one row's new tokens)."""
    if not stops or tokenizer is None:
        return None
    from transformers.generation.stopping_criteria import StopStringCriteria

    criteria = StopStringCriteria(tokenizer=tokenizer, stop_strings=stops)
    return lambda tokens: bool(criteria(torch.tensor([tokens]), None)[0])


def image_key(image: Image.Image | None, salt: str) -> torch.Tensor:
    """Identity of an image as the model sees it: sha256 [32] uint8 of its decoded pixels (mode, size,
    bytes) and ``salt`` (the preprocessing config + the weights hash); zeros for a text-only sample."""
    if image is None:
        return torch.zeros(32, dtype=torch.uint8)
    digest = hashlib.sha256(salt.encode())
    digest.update(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    return torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8)

