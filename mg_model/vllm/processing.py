"""MGM's multimodal processing inside vLLM: pixels exactly as :class:`mg_model.MGMProcessor`, placeholders.

* Pixels: each image goes through the checkpoint's :class:`mg_model.image_processing.MGMImageProcessor` (the
  same object the ``mgm`` backend uses, bit-identical to the official preprocessing): ``images`` [3, s, s]
  (HD: [g² + 1, 3, s, s]) and ``images_aux`` [3, S, S] per image.
* Placeholder: the prompt marks an image with the text ``<image>`` (the official marker). vLLM finds it
  (as the checkpoint tokenizer's ids of ``"<image>"`` alone, else as that text in the decoded prompt, which is
  how a chat request's ``<image>`` inside other text is found) and replaces it by T copies
  of :func:`placeholder_token_id`, T = visual tokens per image (576, HD 2880); their embeddings are
  replaced by the visual tokens, so the id itself never reaches the LLM.

Token prompts (what the ``vllm`` backend of the harness sends, tokenised by the official rules of
:meth:`mg_model.MGMProcessor.tokenize_prompt`) carry :func:`image_marker_ids` where the official ids carry -200.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import BatchFeature
from vllm.multimodal.inputs import MultiModalFieldConfig
from vllm.multimodal.processing import (
    BaseDummyInputsBuilder,
    BaseMultiModalProcessor,
    BaseProcessingInfo,
    PromptReplacement,
    PromptUpdateDetails,
)

from mg_model.checkpoint.loading import ResolvedCheckpoint, resolve_checkpoint
from mg_model.constants import DEFAULT_IMAGE_TOKEN
from mg_model.vision_path import visual_tokens_of

#: the hf_overrides key (``--hf-overrides '{"mgm_encoder_root": DIR}'``) naming the folder of the encoders
ENCODER_ROOT_KEY = "mgm_encoder_root"


@functools.lru_cache(maxsize=8)
def _resolved(checkpoint: str, encoder_root: str | None) -> ResolvedCheckpoint:
    return resolve_checkpoint(checkpoint, encoder_root)


def resolved_checkpoint(model_config: Any) -> ResolvedCheckpoint:
    """The checkpoint vLLM serves (``model_config.model``), resolved as :func:`mg_model.checkpoint.loading.load_mgm` does:
    its MGMConfig takes the CLIP settings from the CLIP folder (config.json names it, it does not hold them)."""
    encoder_root = getattr(model_config.hf_config, ENCODER_ROOT_KEY, None)
    return _resolved(str(Path(model_config.model).resolve()), str(encoder_root) if encoder_root else None)


def placeholder_token_id(config: Any) -> int:
    """The id filling an image's T positions: the pad id, else 0 (any in-vocabulary id would do)."""
    pad = getattr(config, "pad_token_id", None)
    return int(pad) if pad is not None else 0


def image_marker_ids(tokenizer: Any) -> list[int]:
    """The ids vLLM looks for in a token prompt where an image goes: ``"<image>"`` encoded alone."""
    return list(tokenizer.encode(DEFAULT_IMAGE_TOKEN, add_special_tokens=False))


class MGMProcessingInfo(BaseProcessingInfo):
    """What vLLM asks of a multimodal model's inputs: image limits, token counts, the processor."""

    @functools.cached_property
    def checkpoint(self) -> ResolvedCheckpoint:
        """The served checkpoint (folder, completed MGMConfig, encoder folders)."""
        return resolved_checkpoint(self.ctx.model_config)

    def get_hf_processor(self, **kwargs: object) -> Any:
        """The checkpoint's :class:`mg_model.MGMProcessor` (template, tokenizer rules, image processor)."""
        from mg_model.processing_mgm import MGMProcessor

        found = self.checkpoint
        encoder_root = getattr(self.ctx.model_config.hf_config, ENCODER_ROOT_KEY, None)
        return _processor(MGMProcessor, str(found.checkpoint_dir), encoder_root)

    def get_supported_mm_limits(self) -> Mapping[str, int | None]:
        """One image per prompt, as every MGM evaluation script."""
        return {"image": 1}

    def get_mm_max_tokens_per_item(self, seq_len: int, mm_counts: Mapping[str, int]) -> Mapping[str, int]:
        """T visual tokens per image (no profiling needed)."""
        return {"image": self.visual_tokens()}

    def visual_tokens(self) -> int:
        """T: N CLIP tokens per view × (g² crops + global view) (576 LR, 2880 HD)."""
        return visual_tokens_of(self.checkpoint.config)


@functools.lru_cache(maxsize=8)
def _processor(processor_class: type, checkpoint: str, encoder_root: str | None) -> Any:
    return processor_class.from_pretrained(checkpoint, encoder_root=encoder_root)


class MGMDummyInputsBuilder(BaseDummyInputsBuilder[MGMProcessingInfo]):
    """Dummy prompts for vLLM's start-up checks: ``<image>`` per image, square images at the HR side."""

    def get_dummy_text(self, mm_counts: Mapping[str, int]) -> str:
        return DEFAULT_IMAGE_TOKEN * mm_counts.get("image", 0)

    def get_dummy_mm_data(self, seq_len: int, mm_counts: Mapping[str, int], mm_options: Any = None) -> Any:
        side = int(self.info.checkpoint.config.image_size_aux)
        overrides = mm_options.get("image") if mm_options else None
        return {"image": self._get_dummy_images(width=side, height=side, num_images=mm_counts.get("image", 0),
                                                overrides=overrides)}


class MGMMultiModalProcessor(BaseMultiModalProcessor[MGMProcessingInfo]):
    """Images -> ``images`` / ``images_aux`` tensors; ``<image>`` -> T placeholder positions."""

    def _call_hf_processor(self, hf_data: Mapping[str, object], hf_kwargs: Mapping[str, object]) -> BatchFeature:
        images = hf_data.get("images") or []
        if not isinstance(images, Sequence):
            images = [images]
        pixels = self.info.get_hf_processor().image_processor(list(images))
        return BatchFeature(dict(pixels))

    def _get_mm_fields_config(
        self, hf_inputs: BatchFeature, hf_processor_mm_kwargs: Mapping[str, object]
    ) -> Mapping[str, MultiModalFieldConfig]:
        return {"images": MultiModalFieldConfig.batched("image"),
                "images_aux": MultiModalFieldConfig.batched("image")}

    def _get_prompt_updates(self, mm_items: Any, hf_processor_mm_kwargs: Mapping[str, object],
                            out_mm_kwargs: Any) -> Sequence[PromptReplacement]:
        token_id = placeholder_token_id(self.info.checkpoint.config)
        tokens = [token_id] * self.info.visual_tokens()
        return [PromptReplacement(modality="image", target=image_marker_ids(self.info.get_tokenizer()),
                                  replacement=PromptUpdateDetails.select_token_id(tokens, token_id))]
