"""MGM prompts and batches (docs/official_code.md#tokenisation-around-the-image-placeholder, #conversation-templates): ``MGMProcessor``, the chunk-wise ``<image>`` rule, left padding.

``MGMProcessor`` renders the checkpoint's conversation template, tokenises chunk-wise around ``<image>``
with the official BOS handling, left-pads a batch and stacks the pixel tensors of
:class:`~mg_model.image_processing.MGMImageProcessor` (docs/official_code.md#image-preprocessing).

Tokenizer flavour (see docs/processing.md): the official builder loads Vicuna/Yi with the *slow*
SentencePiece ``LlamaTokenizer`` of transformers 4.36 and everything else with the fast tokenizer;
transformers 5 has no slow Llama tokenizer, so the ``slow`` flavour runs
:class:`~mg_model.slow_tokenizer.SlowLlamaTokenization` (transformers' rules over the ``sentencepiece``
library). Loading the tokenizer files: :mod:`mg_model.checkpoint.tokenizer_files`.

The names this module held before it was split stay importable from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import BatchFeature

from .checkpoint.dirs import read_checkpoint_config, read_json_file
from .checkpoint.dirs import require_encoder_dir as resolve_encoder_dir
from .checkpoint.tokenizer_files import (
    load_checkpoint_tokenizer,
    read_legacy_flag,
    tokenizer_from_sentencepiece,
)
from .constants import (
    DEFAULT_IMAGE_TOKEN,
    IMAGE_TOKEN_INDEX,
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    TINY_TOKENIZER_DIR,
)
from .conversation import ConversationTemplate, select_template
from .errors import MGMInputError
from .generation_image import GEN_TRIGGER
from .image_processing import MGMImageProcessor
from .slow_tokenizer import (
    SPIECE_UNDERLINE,
    SlowLlamaTokenization,
    is_sentencepiece_llama,
    official_tokenizer_flavour,
    special_token_wrap,
)

__all__ = [  # MGMProcessor and its helpers, plus the names this module held before the split
    "OPENAI_CLIP_MEAN", "OPENAI_CLIP_STD", "SPIECE_UNDERLINE", "TINY_TOKENIZER_DIR", "MGMImageProcessor",
    "MGMInputError", "MGMProcessor", "SlowLlamaTokenization", "is_sentencepiece_llama", "left_pad",
    "official_tokenizer_flavour", "resolve_encoder_dir", "tokenizer_from_sentencepiece", "tokenizer_image_token",
]


def tokenizer_image_token(prompt: str, encode: Any, bos_token_id: int | None) -> list[int]:
    """Tokenise ``prompt`` chunk-wise around ``<image>`` (docs/official_code.md#tokenisation-around-the-image-placeholder).

    Every chunk is encoded independently with ``encode`` (BOS added where the tokenizer adds it). If the
    first chunk starts with BOS, that BOS is kept once and the first token of *every* chunk is dropped;
    chunks are joined with one ``-200``.

    Args:
        prompt: rendered prompt containing zero or more ``<image>``.
        encode: text -> list of ids (with the tokenizer's special-token behaviour).
        bos_token_id: the tokenizer's BOS id (None: never stripped).

    Returns:
        The id list, ``-200`` at each image slot.
    """
    chunks = [list(encode(chunk)) for chunk in prompt.split(DEFAULT_IMAGE_TOKEN)]
    offset = int(bool(chunks and chunks[0] and bos_token_id is not None and chunks[0][0] == bos_token_id))
    ids = [bos_token_id] if offset else []
    for index, chunk in enumerate(chunks):
        if index > 0:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[offset:])
    return ids


class MGMProcessor:
    """Turns (PIL images, questions) into MGM model inputs with the checkpoint's template.

    Example:
        >>> processor = MGMProcessor.from_pretrained(path)                 # doctest: +SKIP
        >>> batch = processor(images=[img, None], texts=["What is this?", "Say hi."])  # doctest: +SKIP
        >>> batch["input_ids"].shape, batch["images"].shape                # doctest: +SKIP
        (torch.Size([2, L]), torch.Size([2, 3, 336, 336]))
    """

    def __init__(
        self,
        tokenizer: Any,
        image_processor: MGMImageProcessor,
        template: ConversationTemplate,
        *,
        tokenizer_flavour: str = "fast",
        legacy: bool = True,
        sentencepiece_model: str | Path | bytes | None = None,
    ) -> None:
        """Wrap a tokenizer, an image processor and a template.

        Args:
            tokenizer: a transformers tokenizer.
            image_processor: the image pipeline of the checkpoint.
            template: the conversation template.
            tokenizer_flavour: ``slow`` (4.36 SentencePiece rules: Vicuna/Yi) or ``fast``.
            legacy: the slow tokenizer's ``legacy`` flag (from tokenizer_config.json; 4.36 default True).
            sentencepiece_model: for ``slow``: ``tokenizer.model`` (path or bytes); None = the tokenizer's
                own ``vocab_file``.
        """
        if tokenizer_flavour not in ("slow", "fast"):
            raise MGMInputError(f"tokenizer_flavour={tokenizer_flavour!r}: use 'slow' or 'fast'")
        if tokenizer_flavour == "slow" and not is_sentencepiece_llama(tokenizer):
            raise MGMInputError(
                "tokenizer_flavour='slow' needs a SentencePiece-style Llama tokenizer (BPE, byte fallback, ▁); "
                "this tokenizer is not one: use tokenizer_flavour='fast'"
            )
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.template = template
        self.tokenizer_flavour = tokenizer_flavour
        self.legacy = legacy
        self._slow = (
            SlowLlamaTokenization(tokenizer, legacy, sentencepiece_model) if tokenizer_flavour == "slow" else None
        )

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        template: str | None = None,
        *,
        encoder_root: str | Path | None = None,
        tokenizer_flavour: str | None = None,
    ) -> MGMProcessor:
        """Load the tokenizer, image settings and template of an MGM checkpoint directory (official layout).

        Args:
            path: checkpoint directory (config.json, tokenizer files).
            template: conversation template name overriding the automatic choice.
            encoder_root: extra directory in which to look for the ``model_zoo/...`` encoder paths.
            tokenizer_flavour: ``slow`` / ``fast`` overriding the official choice (slow for Vicuna/Yi).
        """
        path = Path(path)
        config = read_checkpoint_config(path)
        tokenizer = load_checkpoint_tokenizer(path, config)
        flavour = tokenizer_flavour or official_tokenizer_flavour(config, tokenizer)
        model_file = path / "tokenizer.model"
        return cls(
            tokenizer,
            MGMImageProcessor.from_pretrained(path, encoder_root),
            select_template(config, tokenizer, template),
            tokenizer_flavour=flavour,
            legacy=read_legacy_flag(path),
            sentencepiece_model=model_file if model_file.is_file() else None,
        )

    def save_pretrained(self, out_dir: str | Path) -> Path:
        """Write the tokenizer files into ``out_dir`` so that ``from_pretrained`` gives the same ids back.

        transformers 5 drops the slow-tokenizer keys (``legacy``, ``add_bos_token``) when saving; they are
        written back into tokenizer_config.json because the ``slow`` rules depend on them. It does not write
        ``tokenizer.model`` either; the ``slow`` flavour's SentencePiece model is written too.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(out))
        if self._slow is not None:
            (out / "tokenizer.model").write_bytes(self._slow.model_bytes)
        config_path = out / "tokenizer_config.json"
        settings = read_json_file(config_path) if config_path.is_file() else {}
        bos_wrap, _ = special_token_wrap(self.tokenizer)
        settings.update({"legacy": self.legacy, "add_bos_token": bool(bos_wrap)})
        config_path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return out

    @property
    def stop_strings(self) -> list[str]:
        """Strings that end an answer for this template."""
        return list(self.template.stop_strings)

    @property
    def eos_token_ids(self) -> list[int]:
        """eos ids the official eval scripts pass (tokenizer eos; plus ``<|eot_id|>`` for llama_3)."""
        return self.template.eos_token_ids(self.tokenizer)

    @property
    def pad_token_id(self) -> int:
        """Id used for left padding: the tokenizer's pad, else unk (as official training), else eos."""
        for candidate in (self.tokenizer.pad_token_id, self.tokenizer.unk_token_id, self.tokenizer.eos_token_id):
            if candidate is not None:
                return int(candidate)
        raise MGMInputError("the tokenizer has no pad, unk or eos token to pad with; set tokenizer.pad_token")

    def render_prompt(
        self, text: str, has_image: bool = True, *, gen: bool = False, history: Sequence[tuple[str, str]] = ()
    ) -> str:
        """The prompt string for a user message ``text`` (without ``<image>``) under the template.

        ``gen=True`` appends the ``" <GEN>"`` trigger to the user text (CLI behaviour, docs/official_code.md#reasoning-generation).
        """
        question = text + GEN_TRIGGER if gen else text
        return self.template.build_prompt(question, num_images=int(has_image), history=history)

    def encode_text(self, text: str) -> list[int]:
        """Encode plain text (no ``<image>``) with BOS as the official tokenizer flavour does."""
        if self._slow is not None:
            return self._slow.encode(text)
        return list(self.tokenizer(text)["input_ids"])

    def tokenize_prompt(self, prompt: str) -> list[int]:
        """Prompt string -> ids with ``-200`` at each ``<image>`` (docs/official_code.md#tokenisation-around-the-image-placeholder)."""
        return tokenizer_image_token(prompt, self.encode_text, self.tokenizer.bos_token_id)

    def __call__(
        self,
        images: Sequence[Image.Image | None] | None = None,
        texts: Sequence[str] | None = None,
        gen: bool | Sequence[bool] = False,
    ) -> BatchFeature:
        """Build a left-padded batch.

        Args:
            images: per sample a PIL image or ``None`` (text-only); ``None`` for an all-text batch.
            texts: per sample the user message without ``<image>``.
            gen: append the ``<GEN>`` trigger (one flag for all samples or one per sample).

        Returns:
            BatchFeature with ``input_ids`` [B, L] (left padded, -200 at the image slot), ``attention_mask``
            [B, L]; when any sample has an image also ``images`` [B, 3, r, r] or [B, V, 3, r, r] and
            ``images_aux`` [B, 3, S, S] (zeros for text-only samples).
        """
        texts, images, gens = _check_batch(texts, images, gen)
        prompts = [
            self.render_prompt(text, image is not None, gen=flag) for text, image, flag in zip(texts, images, gens)
        ]
        ids = [self.tokenize_prompt(prompt) for prompt in prompts]
        batch: dict[str, torch.Tensor] = left_pad(ids, self.pad_token_id)
        if any(image is not None for image in images):
            batch.update(self._pixel_batch(images))
        return BatchFeature(batch)

    def _pixel_batch(self, images: Sequence[Image.Image | None]) -> dict[str, torch.Tensor]:
        present = [index for index, image in enumerate(images) if image is not None]
        pixels = self.image_processor([images[index] for index in present])
        if len(present) == len(images):
            return pixels
        full = self.image_processor.blank(len(images))
        for key in full:
            full[key][present] = pixels[key]
        return full

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = True) -> list[str]:
        """Decode generated ids (new tokens only) to stripped strings, as the official eval scripts."""
        if isinstance(sequences, torch.Tensor):
            sequences = sequences.tolist()
        cleaned = [[int(t) for t in seq if int(t) >= 0] for seq in sequences]
        texts = self.tokenizer.batch_decode(cleaned, skip_special_tokens=skip_special_tokens)
        return [text.strip() for text in texts]


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad id lists to the longest: ``input_ids`` [B, L] (long) and ``attention_mask`` [B, L] (long)."""
    length = max(len(seq) for seq in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            input_ids[row, length - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            attention_mask[row, length - len(seq) :] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def _check_batch(
    texts: Sequence[str] | None, images: Sequence[Image.Image | None] | None, gen: bool | Sequence[bool]
) -> tuple[list[str], list[Image.Image | None], list[bool]]:
    if texts is None or isinstance(texts, str):
        raise MGMInputError("texts must be a list of strings (one user message per sample)")
    texts = list(texts)
    if not texts:
        raise MGMInputError("texts is empty: nothing to process")
    images = [None] * len(texts) if images is None else list(images)
    if len(images) != len(texts):
        raise MGMInputError(f"got {len(images)} images for {len(texts)} texts; pass one entry (or None) per text")
    for index, (text, image) in enumerate(zip(texts, images)):
        if not isinstance(text, str):
            raise MGMInputError(f"texts[{index}] is a {type(text).__name__}, expected str")
        if image is not None and not isinstance(image, Image.Image):
            raise MGMInputError(f"images[{index}] is a {type(image).__name__}, expected a PIL image or None")
    gens = [bool(gen)] * len(texts) if isinstance(gen, bool) else [bool(flag) for flag in gen]
    if len(gens) != len(texts):
        raise MGMInputError(f"gen has {len(gens)} flags for {len(texts)} texts")
    return texts, images, gens
