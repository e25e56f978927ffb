"""MGMForCausalLM: vision encoders + patch info mining + projector spliced into any HF causal LM.

Module tree (= official state-dict names, docs/official_code.md#module-tree-and-state-dict-names):

* ``model``: the language backbone built with ``AutoModel.from_config`` (``LlamaModel``, ``GemmaModel``,
  ``MixtralModel``, ...), to which the MGM modules are attached: ``model.mm_projector``,
  ``model.vision_tower.vision_tower.vision_model.*`` (CLIP), ``model.vision_tower_aux.vision_stem/
  vision_stages`` (ConvNeXt) and ``model.vlm_uni_{query,aux,val}_projector``.
* ``lm_head``: Linear(H, V) (tied to ``model.embed_tokens`` when ``tie_word_embeddings``).

The image placeholder id is ``IMAGE_TOKEN_INDEX = -200`` (docs/official_code.md#image-placeholder-id); each one is replaced by the T visual
embeddings of its image (T = 576, or 2880 in HD).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoModel, GenerationMixin, PreTrainedModel
from transformers.generation.logits_process import LogitsProcessorList
from transformers.modeling_outputs import CausalLMOutputWithPast

from .checkpoint.loading import load_mgm
from .checkpoint.saving import parse_size, save_mgm
from .configuration_mgm import MGMConfig, MGMGemmaConfig, MGMMistralConfig, MGMMixtralConfig
from .constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from .errors import MGMConfigError
from .generation.fast_decode import (
    ATTENTION_CHOICES,
    OFFICIAL_LLM_ATTENTION,
    DecodeOptions,
    apply_decode_options,
)
from .generation.feature_cache import encode_unique
from .generation.prefix_sharing import generate_with_shared_prefix, plan_shared_prefixes, spliced_length_ok
from .generation.sampling import PerSampleSampler, first_set
from .generation.vision_chunks import DEFAULT_CHUNK_BYTES
from .hf_compat import CACHE_ARG
from .registration import register_model_types
from .vision_path import build_projector, build_vision_modules, encode_visual_tokens, visual_tokens_per_image

__all__ = ["CACHE_ARG", "MGMForCausalLM", "build_projector", "model_class_for", "register_mgm"]

# transformers loading options that do not apply to a local official-layout directory (config is re-read)
HUB_LOADING_OPTIONS = (
    "config", "revision", "trust_remote_code", "adapter_kwargs", "cache_dir", "local_files_only", "token",
    "low_cpu_mem_usage", "use_safetensors", "subfolder", "force_download", "proxies", "_from_auto",
    "_from_pipeline", "code_revision", "_commit_hash",
)


class MGMForCausalLM(PreTrainedModel, GenerationMixin):
    """Mini-Gemini for causal LM: official numerics (docs/official_code.md, LR encoder to embedding splice), batched generation with left padding.

    Build with :meth:`from_pretrained` (official checkpoint directory) or ``MGMForCausalLM(config)``
    (random weights). ``forward`` and ``generate`` take ``input_ids`` [B, L] with -200 at image slots,
    ``attention_mask`` [B, L], ``images`` [B, 3, s, s] or [B, g²(+1), 3, s, s] and ``images_aux`` [B, 3, S, S].
    """

    config_class = MGMConfig
    base_model_prefix = "mgm"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    _no_split_modules = ["CLIPEncoderLayer", "ConvNeXtStage"]

    def __init__(self, config: MGMConfig) -> None:
        config.validate(require_clip=True)
        super().__init__(config)
        llm_config = config.llm_config()
        # the language model follows the construction dtype (like the encoders), not config.json's torch_dtype
        self.model = AutoModel.from_config(llm_config, dtype=torch.get_default_dtype())
        hidden = llm_config.hidden_size
        for name, module in build_vision_modules(config, hidden).items():  # the vision path (vision_path.py)
            setattr(self.model, name, module)
        self.lm_head = nn.Linear(hidden, llm_config.vocab_size, bias=False)
        self._no_split_modules = list(self._no_split_modules) + list(getattr(self.model, "_no_split_modules", []))
        self.post_init()

    # ------------------------------------------------------------------------------------ HF plumbing
    def get_input_embeddings(self) -> nn.Module:
        """The language model's token embedding."""
        return self.model.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        """Replace the token embedding."""
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Module:
        """The LM head."""
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        """Replace the LM head."""
        self.lm_head = value

    def tie_weights(self, *args: Any, **kwargs: Any) -> None:
        """Tie ``lm_head`` to the input embedding when ``tie_word_embeddings`` (Gemma)."""
        if getattr(self.config.llm_config(), "tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, *args: Any, **kwargs: Any) -> MGMForCausalLM:
        """Load an official MGM checkpoint directory; see :func:`mg_model.checkpoint.loading.load_mgm` for options.

        ``attn_implementation``: the language model's attention kernel, ``"eager"`` (default: the official
        numerics) or ``"sdpa"`` (the same switch as ``DecodeOptions(attn=...)``, :mod:`mg_model.generation.fast_decode`);
        any other value is an :class:`MGMConfigError`. The vision towers stay eager.
        """
        attn = kwargs.pop("attn_implementation", None)
        if attn is not None and attn not in ATTENTION_CHOICES:
            raise MGMConfigError(f"attn_implementation={attn!r} is not supported by MGM; use one of "
                                 f"{', '.join(ATTENTION_CHOICES)} (default {OFFICIAL_LLM_ATTENTION!r}, the official)")
        for hub_option in HUB_LOADING_OPTIONS:  # passed by AutoModelForCausalLM; the directory decides
            kwargs.pop(hub_option, None)
        register_mgm()
        model = load_mgm(pretrained_model_name_or_path, *args, model_class_for=model_class_for, **kwargs)
        if attn is not None:
            apply_decode_options(model, DecodeOptions(attn=attn))
        return model

    def save_pretrained(self, save_directory: str, *args: Any, max_shard_size: int | str = "5GB", **kwargs: Any) -> None:
        """Write config.json + sharded safetensors + index with official key names (:func:`save_mgm`).

        ``max_shard_size`` is bytes or a string such as ``"5GB"``; other transformers options
        (``safe_serialization``, ``push_to_hub``, ...) do not apply and are ignored.
        """
        save_mgm(self, save_directory, max_shard_size=parse_size(max_shard_size))

    # ------------------------------------------------------------------------------------------ vision
    @property
    def vision_dtype(self) -> torch.dtype:
        """dtype of the projector (the dtype the visual tokens are computed in)."""
        return self.model.mm_projector[0].weight.dtype

    def visual_tokens_per_image(self) -> int:
        """T: visual tokens that replace one image placeholder (N·(g² + global))."""
        return visual_tokens_per_image(self.model, self.config)

    def mining_projectors(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        """(query, key, value) mining projections."""
        return (self.model.vlm_uni_query_projector, self.model.vlm_uni_aux_projector, self.model.vlm_uni_val_projector)

    def encode_images(
        self, images: torch.Tensor, images_aux: torch.Tensor | None, use_mining: bool = True
    ) -> torch.Tensor:
        """Visual tokens [B, T, H] for LR views ``images`` and HR images ``images_aux`` (docs/official_code.md#patch-info-mining); see
        :func:`mg_model.vision_path.encode_visual_tokens` (shared with the vLLM model)."""
        return encode_visual_tokens(self.model, self.config, images, images_aux, use_mining,
                                    getattr(self, "vision_chunk_bytes", DEFAULT_CHUNK_BYTES))

    # -------------------------------------------------------------------------------------------- splice
    def embed_multimodal(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        images: torch.Tensor | None,
        images_aux: torch.Tensor | None,
        labels: torch.Tensor | None = None,
        padding_side: str | None = None,
        image_keys: list[str | None] | None = None,
        feature_cache: Any = None,
    ) -> dict[str, torch.Tensor | None]:
        """Replace every -200 by its image's visual tokens and re-pad the batch (docs/official_code.md#embedding-splice), vectorised.

        Args:
            input_ids: [B, L]; padded positions are those with ``attention_mask == 0``.
            attention_mask: [B, L] or None (all ones).
            images, images_aux: see :meth:`encode_images`; one image per sample (a sample without -200
                ignores its image) or one image per -200 in batch order.
            labels: optional [B, L]; image positions get -100 (IGNORE_INDEX).
            padding_side: "left" (generation) or "right"; default ``config.tokenizer_padding_side``.
            image_keys / feature_cache: with one image per sample, encode each distinct key once
                (through the :class:`mg_model.generation.feature_cache.FeatureCache`, when given).

        Returns:
            dict with ``inputs_embeds`` [B, L'] x H, ``attention_mask`` [B, L'], ``position_ids`` [B, L']
            and ``labels`` [B, L'] (or None); sequences truncated to ``tokenizer_model_max_length``.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        valid = attention_mask.bool()
        is_image = (input_ids == IMAGE_TOKEN_INDEX) & valid
        features = self._image_features_for(is_image, images, images_aux, image_keys, feature_cache)
        num_visual = features.shape[1] if features is not None else 1
        widths = valid.long() + is_image.long() * (num_visual - 1)
        starts = widths.cumsum(dim=1) - widths
        max_length = int(self.config.tokenizer_model_max_length)
        lengths = widths.sum(dim=1).clamp(max=max_length)
        total = int(lengths.max()) if lengths.numel() else 0
        side = padding_side or self.config.tokenizer_padding_side
        offsets = (total - lengths) if side == "left" else torch.zeros_like(lengths)

        text_embeds = self.model.embed_tokens(input_ids.clamp(min=0))
        batch, hidden = input_ids.shape[0], text_embeds.shape[-1]
        embeds = text_embeds.new_zeros(batch, total, hidden)
        new_labels = None if labels is None else labels.new_full((batch, total), IGNORE_INDEX)
        text_b, text_l = (valid & ~is_image & (starts < max_length)).nonzero(as_tuple=True)
        text_dest = starts[text_b, text_l] + offsets[text_b]
        embeds[text_b, text_dest] = text_embeds[text_b, text_l]
        if new_labels is not None:
            new_labels[text_b, text_dest] = labels[text_b, text_l]
        if features is not None:
            self._scatter_image_tokens(embeds, features, is_image, starts, offsets, max_length)
        positions = torch.arange(total, device=input_ids.device)
        new_mask = (positions >= offsets[:, None]) & (positions < (offsets + lengths)[:, None])
        position_ids = (new_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        return {
            "inputs_embeds": embeds,
            "attention_mask": new_mask.to(attention_mask.dtype),
            "position_ids": position_ids,
            "labels": new_labels,
        }

    def _image_features_for(
        self, is_image: torch.Tensor, images: torch.Tensor | None, images_aux: torch.Tensor | None,
        image_keys: list[str | None] | None = None, feature_cache: Any = None,
    ) -> torch.Tensor | None:
        """Encode the images and order them as the -200 slots of ``is_image`` (row-major) consume them."""
        per_sample = is_image.sum(dim=1)
        total_slots = int(per_sample.sum())
        if total_slots == 0:
            return None
        if images is None:
            raise ValueError(f"input_ids contain {total_slots} image token(s) (-200) but no images were given")
        if images.shape[0] == is_image.shape[0] and int(per_sample.max()) <= 1:
            used = per_sample.bool().to(images.device)  # text-only samples' (blank) images are not encoded
            aux = images_aux[used.to(images_aux.device)] if images_aux is not None else None
            if image_keys is not None:  # sharing on: each distinct image once (feature_cache.py)
                keys = [key for key, is_used in zip(image_keys, used.tolist()) if is_used]
                return encode_unique(self.encode_images, images[used], aux, keys, feature_cache)
            return self.encode_images(images[used], aux)
        if images.shape[0] == total_slots:
            return self.encode_images(images, images_aux)
        raise ValueError(
            f"{images.shape[0]} image(s) for {total_slots} image token(s) over {is_image.shape[0]} samples: pass "
            "one image per sample (each with at most one -200) or one image per -200 token"
        )

    def _scatter_image_tokens(
        self,
        embeds: torch.Tensor,
        features: torch.Tensor,
        is_image: torch.Tensor,
        starts: torch.Tensor,
        offsets: torch.Tensor,
        max_length: int,
    ) -> None:
        slot_b, slot_l = is_image.nonzero(as_tuple=True)
        num_visual = features.shape[1]
        relative = starts[slot_b, slot_l][:, None] + torch.arange(num_visual, device=embeds.device)
        keep = relative < max_length
        dest = relative + offsets[slot_b][:, None]
        rows = slot_b[:, None].expand_as(dest)
        features = features.to(embeds.dtype) * self._embedding_scale(embeds.dtype)
        embeds[rows[keep], dest[keep]] = features[keep]

    def _embedding_scale(self, dtype: torch.dtype) -> torch.Tensor | float:
        """The LLM's input-embedding multiplier (Gemma: sqrt(H) cast to ``dtype``, docs/official_code.md#embedding-splice), else 1."""
        scale = getattr(self.model.embed_tokens, "embed_scale", None)
        return scale.to(dtype) if isinstance(scale, torch.Tensor) else 1.0

    # ------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        images: torch.Tensor | None = None,
        images_aux: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        past_key_values: Any = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """Logits (fp32, like the official forward) for text + images; loss when ``labels`` are given.

        With images, ``input_ids`` [B, L] are spliced (:meth:`embed_multimodal`, padding side from the
        config) and the returned logits [B, L', V] follow the spliced sequence. The KV cache comes as
        ``cache`` (what transformers' ``generate`` passes now) or ``past_key_values`` (earlier releases) and
        goes to the LLM under the name its release uses (``CACHE_ARG``), so no deprecation warning fires.
        """
        kv_cache = cache if cache is not None else past_key_values
        # (a compiled decode step gets no images: skip the data-dependent check there, no graph break)
        may_splice = images is not None or not torch.compiler.is_compiling()
        if inputs_embeds is None and input_ids is not None and may_splice and bool((input_ids == IMAGE_TOKEN_INDEX).any()):
            spliced = self.embed_multimodal(input_ids, attention_mask, images, images_aux, labels)
            input_ids, inputs_embeds = None, spliced["inputs_embeds"]
            attention_mask, position_ids, labels = spliced["attention_mask"], spliced["position_ids"], spliced["labels"]
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **{CACHE_ARG: kv_cache},
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:
            hidden_states = hidden_states[:, -logits_to_keep:]
        logits = self.lm_head(hidden_states).float()
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
            )
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_ARG: getattr(outputs, CACHE_ARG, None)},
            hidden_states=getattr(outputs, "hidden_states", None),
            attentions=getattr(outputs, "attentions", None),
        )

    # ----------------------------------------------------------------------------------------- generate
    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        images: torch.Tensor | None = None,
        images_aux: torch.Tensor | None = None,
        stop_strings: list[str] | str | None = None,
        tokenizer: Any = None,
        sample_seeds: list[int] | None = None,
        image_keys: list[str | None] | None = None,
        feature_cache: Any = None,
        share_prefix: bool = False,
        **kwargs: Any,
    ) -> torch.LongTensor:
        """Greedy / sampling / beam generation; returns only the new tokens [B, new_len].

        The prompt (text + visual tokens) is re-padded on the left, position ids follow the attention
        mask, and the KV cache is used, so a sample gives the same tokens alone or in a batch.
        ``stop_strings`` needs the tokenizer (``tokenizer=`` or the checkpoint's, loaded on demand).
        ``sample_seeds`` (one int per sample, with ``do_sample=True`` and one beam) makes sampling
        independent of the batch: sample i draws its noise from its own seeded generator, so it gets the
        same tokens alone or in any batch (see :class:`PerSampleSampler`); without it sampling uses the
        global torch RNG as transformers does. ``image_keys`` (one per sample; equal keys = equal
        preprocessed images) encodes each image once, through ``feature_cache`` when given;
        ``share_prefix=True`` (with ``image_keys``) prefills each shared prompt prefix once and each
        prompt once for all beams (:mod:`mg_model.generation.prefix_sharing`). Other kwargs are those of ``transformers`` ``generate`` (``max_new_tokens``, ``do_sample``,
        ``temperature``, ``top_p``, ``num_beams``, ``eos_token_id``, ``pad_token_id``, ...).
        """
        if "inputs_embeds" in kwargs:
            return super().generate(attention_mask=attention_mask, **kwargs)
        if input_ids is None:
            raise ValueError("generate() needs input_ids (with -200 at the image slot) or inputs_embeds")
        if stop_strings:
            kwargs["stop_strings"] = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings)
            kwargs["tokenizer"] = tokenizer if tokenizer is not None else self._checkpoint_tokenizer()
        self._fill_token_ids(kwargs)
        if sample_seeds is not None and kwargs.get("do_sample", self.generation_config.do_sample):
            self._use_per_sample_sampling(kwargs, sample_seeds, input_ids.shape[0])
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if share_prefix and image_keys is not None:
            plan = plan_shared_prefixes(input_ids, attention_mask, image_keys)
            if plan is not None and spliced_length_ok(self, plan):
                return generate_with_shared_prefix(self, plan, images, images_aux, image_keys, feature_cache, kwargs)
        spliced = self.embed_multimodal(input_ids, attention_mask, images, images_aux, padding_side="left",
                                        image_keys=image_keys, feature_cache=feature_cache)
        return super().generate(
            inputs_embeds=spliced["inputs_embeds"], attention_mask=spliced["attention_mask"], **kwargs
        )

    def _use_per_sample_sampling(self, kwargs: dict[str, Any], seeds: list[int], batch: int) -> None:
        """Replace transformers' sampling by :class:`PerSampleSampler` (greedy over Gumbel-perturbed scores)."""
        if len(seeds) != batch:
            raise ValueError(f"sample_seeds has {len(seeds)} seeds for a batch of {batch} samples")
        if kwargs.get("num_beams", 1) not in (None, 1) or kwargs.get("num_return_sequences", 1) not in (None, 1):
            raise ValueError("sample_seeds works with num_beams=1 and num_return_sequences=1 only")
        config = self.generation_config
        sampler = PerSampleSampler(
            seeds,
            temperature=first_set(kwargs.pop("temperature", None), config.temperature, 1.0),
            top_k=first_set(kwargs.pop("top_k", None), config.top_k, 50),
            top_p=first_set(kwargs.pop("top_p", None), config.top_p, 1.0),
        )
        kwargs["do_sample"] = False
        kwargs["logits_processor"] = LogitsProcessorList([*(kwargs.get("logits_processor") or []), sampler])

    def _fill_token_ids(self, kwargs: dict[str, Any]) -> None:
        generation_config = kwargs.get("generation_config") or self.generation_config
        if kwargs.get("pad_token_id") is None and generation_config.pad_token_id is None:
            eos = kwargs.get("eos_token_id", generation_config.eos_token_id)
            pad = getattr(self.config, "pad_token_id", None)
            if pad is None:
                pad = eos[0] if isinstance(eos, (list, tuple)) else eos
            if pad is not None:
                kwargs["pad_token_id"] = pad

    def _checkpoint_tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        source = getattr(self.config, "_name_or_path", "") or ""
        if not source:
            raise ValueError("stop_strings needs a tokenizer: pass tokenizer=processor.tokenizer to generate()")
        return AutoTokenizer.from_pretrained(source)


class MGMGemmaForCausalLM(MGMForCausalLM):
    """MGMForCausalLM registered for ``model_type: mgm_gemma``."""

    config_class = MGMGemmaConfig


class MGMMixtralForCausalLM(MGMForCausalLM):
    """MGMForCausalLM registered for ``model_type: mgm_mixtral``."""

    config_class = MGMMixtralConfig


class MGMMistralForCausalLM(MGMForCausalLM):
    """MGMForCausalLM registered for ``model_type: mgm_mistral``."""

    config_class = MGMMistralConfig


_MODEL_CLASS_OF_CONFIG = {
    MGMConfig: MGMForCausalLM,
    MGMGemmaConfig: MGMGemmaForCausalLM,
    MGMMixtralConfig: MGMMixtralForCausalLM,
    MGMMistralConfig: MGMMistralForCausalLM,
}


def model_class_for(config_class: type[MGMConfig]) -> type[MGMForCausalLM]:
    """The MGMForCausalLM class registered for an MGM config class."""
    return _MODEL_CLASS_OF_CONFIG[config_class]


def register_mgm() -> None:
    """Register the four MGM model types with AutoConfig and AutoModelForCausalLM (idempotent).

    The package's only global side effect (:mod:`mg_model.registration`); it runs inside
    ``from_pretrained``/``build``, never at import time.
    """
    register_model_types(_MODEL_CLASS_OF_CONFIG)
