"""MGM input processing: images (spec §5) and prompts/tokenisation (spec §8.2, §8.4).

``MGMImageProcessor`` reproduces the official pipeline: pad to a square with the CLIP mean colour
(122, 116, 104), PIL bicubic resize to the HR side S (``image_size_aux``), rescale 1/255, CLIP mean/std
normalisation (float32), then the LR input is a bilinear (no antialias) down-sample of that *normalised* HR
tensor to 336·g; HD checkpoints (g = 2) split it into row-major 336 crops and append a global view last.

``MGMProcessor`` renders the checkpoint's conversation template, tokenises chunk-wise around ``<image>``
with the official BOS handling, left-pads a batch and stacks the pixel tensors.

Tokenizer flavour (see docs/processing.md): the official builder loads Vicuna/Yi with the *slow*
SentencePiece ``LlamaTokenizer`` of transformers 4.36 and everything else with the fast tokenizer.
transformers 5 has no slow Llama tokenizer any more (``AutoTokenizer`` ignores ``use_fast``), so for the
``slow`` flavour this module reproduces the slow tokenizer's rules itself: added-token splitting, the
``legacy`` dummy-prefix rules, then the tokenizer's own BPE model (the same pieces and merges as the
SentencePiece model, byte fallback included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoConfig, AutoTokenizer, BatchFeature

from mg_model.conversation import (
    DEFAULT_IMAGE_TOKEN,
    IMAGE_TOKEN_INDEX,
    ConversationTemplate,
    MGMInputError,
    read_config_dict,
    select_template,
)
from mg_model.generation_image import GEN_TRIGGER

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SPIECE_UNDERLINE = "\u2581"
TINY_TOKENIZER_DIR = Path(__file__).resolve().parent / "assets" / "tiny_tokenizer"


# --------------------------------------------------------------------------------------------------
# Images (spec §5)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MGMImageProcessor:
    """The official MGM image preprocessing (spec §5), vectorised over the batch after the PIL steps.

    Attributes:
        image_size_aux: HR side S (768 non-HD, 1536 HD); the whole pipeline runs at this size.
        image_size_raw: the CLIP crop side (336), i.e. one LR view.
        image_grid: LR tiles per side g (1 non-HD, 2 HD); the LR canvas is ``image_size_raw * g``.
        image_global: append a global LR view (HD).
        image_aspect_ratio: ``pad`` (all released models) or ``square`` (shortest-edge resize + centre crop).
        image_mean, image_std: CLIP normalisation.
        rescale_factor: pixel scale (1/255).
    """

    image_size_aux: int = 768
    image_size_raw: int = 336
    image_grid: int = 1
    image_global: bool = False
    image_aspect_ratio: str = "pad"
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255

    def __post_init__(self) -> None:
        if self.image_aspect_ratio not in ("pad", "square"):
            raise MGMInputError(
                f"image_aspect_ratio={self.image_aspect_ratio!r} is not supported; use 'pad' (released models) "
                "or 'square'"
            )
        if self.image_grid < 1 or (self.image_global and self.image_grid < 2):
            raise MGMInputError(
                f"image_grid={self.image_grid}, image_global={self.image_global}: need image_grid >= 1, and "
                "image_global only with image_grid >= 2"
            )

    @classmethod
    def from_configs(cls, config: dict[str, Any], clip_preprocessor: dict[str, Any]) -> MGMImageProcessor:
        """Build from a checkpoint config dict and the CLIP dir's ``preprocessor_config.json`` dict."""
        crop = clip_preprocessor.get("crop_size", 336)
        crop_side = int(crop["height"] if isinstance(crop, dict) else crop)
        return cls(
            image_size_aux=int(config.get("image_size_aux", 320)),
            image_size_raw=crop_side,
            image_grid=int(config.get("image_grid", 1) or 1),
            image_global=bool(config.get("image_global", False)),
            # The official process_images pads only for exactly "pad"; any other value takes the plain path.
            image_aspect_ratio="pad" if config.get("image_aspect_ratio") == "pad" else "square",
            image_mean=tuple(float(m) for m in clip_preprocessor.get("image_mean", OPENAI_CLIP_MEAN)),
            image_std=tuple(float(s) for s in clip_preprocessor.get("image_std", OPENAI_CLIP_STD)),
            rescale_factor=float(clip_preprocessor.get("rescale_factor", 1 / 255)),
        )

    @classmethod
    def from_pretrained(
        cls, checkpoint_dir: str | Path, encoder_root: str | Path | None = None
    ) -> MGMImageProcessor:
        """Read ``config.json`` of the checkpoint and ``preprocessor_config.json`` of its CLIP directory."""
        config = read_config_dict(checkpoint_dir)
        clip_dir = resolve_encoder_dir(config.get("mm_vision_tower"), checkpoint_dir, encoder_root, "mm_vision_tower")
        clip_preprocessor = _read_json(clip_dir / "preprocessor_config.json")
        return cls.from_configs(config, clip_preprocessor)

    @property
    def pad_color(self) -> tuple[int, int, int]:
        """Background of the square canvas: ``int(mean * 255)`` per channel, (122, 116, 104) for CLIP."""
        return tuple(int(m * 255) for m in self.image_mean)

    @property
    def lr_side(self) -> int:
        """Side of the LR canvas, ``image_size_raw * image_grid`` (336 or 672)."""
        return self.image_size_raw * self.image_grid

    @property
    def num_views(self) -> int:
        """LR views per image: 1 (non-HD) or g*g (+1 with the global view)."""
        return self.image_grid**2 + int(self.image_global)

    def expand_to_square(self, image: Image.Image) -> Image.Image:
        """Paste ``image`` (RGB) centred on a square canvas of the pad colour (official ``expand2square``)."""
        width, height = image.size
        if width == height:
            return image
        side = max(width, height)
        canvas = Image.new(image.mode, (side, side), self.pad_color)
        canvas.paste(image, (0, (width - height) // 2) if width > height else ((height - width) // 2, 0))
        return canvas

    def resize_to_hr(self, image: Image.Image) -> np.ndarray:
        """Shortest-edge PIL bicubic resize to S and centre crop S (CLIPImageProcessor); uint8 [S, S, 3]."""
        side = self.image_size_aux
        width, height = image.size
        short, long = sorted((width, height))
        new_long = int(side * long / short)
        size = (side, new_long) if width <= height else (new_long, side)
        resized = image.resize(size, resample=Image.BICUBIC)
        array = np.asarray(resized, dtype=np.uint8)
        top, left = (array.shape[0] - side) // 2, (array.shape[1] - side) // 2
        return array[top : top + side, left : left + side]

    def normalize(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 [B, S, S, 3] -> float32 [B, 3, S, S]: ``(x * rescale - mean) / std`` in float32 (as 4.36)."""
        scaled = (pixels.astype(np.float64) * self.rescale_factor).astype(np.float32)
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        normalized = (scaled - mean) / std
        return torch.from_numpy(np.ascontiguousarray(normalized.transpose(0, 3, 1, 2)))

    def hr_pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The HR tensor ``images_aux``: float32 [B, 3, S, S], S = ``image_size_aux``."""
        arrays = []
        for image in images:
            rgb = image.convert("RGB")
            if self.image_aspect_ratio == "pad":
                rgb = self.expand_to_square(rgb)
            arrays.append(self.resize_to_hr(rgb))
        return self.normalize(np.stack(arrays))

    def lr_views(self, hr: torch.Tensor) -> torch.Tensor:
        """LR views from the normalised HR tensor [B, 3, S, S].

        Returns:
            [B, 3, r, r] for g = 1, else [B, V, 3, r, r] with V = g*g (+1): row-major crops, global view last.
            r = ``image_size_raw``. Bilinear, ``align_corners=False``, no antialias, float32.
        """
        lr = F.interpolate(hr.float(), size=[self.lr_side, self.lr_side], mode="bilinear", align_corners=False)
        if self.image_grid == 1:
            return lr
        batch, g, r = lr.shape[0], self.image_grid, self.image_size_raw
        crops = lr.reshape(batch, 3, g, r, g, r).permute(0, 2, 4, 1, 3, 5).reshape(batch, g * g, 3, r, r)
        if not self.image_global:
            return crops
        global_view = F.interpolate(lr, size=[r, r], mode="bilinear", align_corners=False)
        return torch.cat([crops, global_view[:, None]], dim=1)

    def __call__(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        """Preprocess a batch of PIL images.

        Returns:
            ``images``: [B, 3, r, r] (non-HD) or [B, V, 3, r, r] (HD); ``images_aux``: [B, 3, S, S]; float32.
        """
        if len(images) == 0:
            raise MGMInputError("no images to preprocess")
        for index, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise MGMInputError(f"images[{index}] is a {type(image).__name__}, expected a PIL.Image.Image")
        hr = self.hr_pixels(images)
        return {"images": self.lr_views(hr), "images_aux": hr}

    def blank(self, batch: int) -> dict[str, torch.Tensor]:
        """Zero tensors of the shapes ``__call__`` returns (text-only samples in a mixed batch, as training)."""
        r, s = self.image_size_raw, self.image_size_aux
        lr_shape = (batch, 3, r, r) if self.image_grid == 1 else (batch, self.num_views, 3, r, r)
        return {"images": torch.zeros(lr_shape), "images_aux": torch.zeros(batch, 3, s, s)}


# --------------------------------------------------------------------------------------------------
# Tokenisation (spec §8.2)
# --------------------------------------------------------------------------------------------------


@dataclass
class SlowLlamaTokenization:
    """The rules of transformers 4.36's slow (SentencePiece) ``LlamaTokenizer``, on a transformers 5 tokenizer.

    The official code tokenises Vicuna and Yi prompts with that class. Its pieces are reproduced with the
    tokenizer's own BPE model (same vocabulary and merges as the SentencePiece file, byte fallback).

    * ``legacy=True`` (4.36 default when tokenizer_config.json has no ``legacy`` key): every text segment
      between added tokens is encoded with the SentencePiece dummy prefix ``▁``.
    * ``legacy=False``: ``▁`` is prepended once to the whole text; segments after an added token get no
      prefix unless they start with a space; a lone ``▁`` right before a special token is dropped.
    """

    tokenizer: Any
    legacy: bool
    dummy_prefix: bool = True
    remove_extra_whitespaces: bool = False
    _split_pattern: re.Pattern[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        contents = sorted((str(t.content) for t in self.tokenizer.added_tokens_decoder.values()), key=len, reverse=True)
        if contents:
            self._split_pattern = re.compile("(" + "|".join(re.escape(c) for c in contents) + ")")
        self._added = {str(t.content): t for t in self.tokenizer.added_tokens_decoder.values()}
        self._wrap = self._special_wrap()

    def tokenize(self, text: str) -> list[str]:
        """Text -> pieces (no BOS/EOS), as 4.36 ``LlamaTokenizer.tokenize``."""
        if not text:
            return []
        if self.legacy:
            return self._split_and_encode(text)
        pieces = self._split_and_encode(SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " "))
        if len(pieces) > 1 and pieces[0] == SPIECE_UNDERLINE and pieces[1] in self.tokenizer.all_special_tokens:
            pieces = pieces[1:]
        return pieces

    def encode(self, text: str) -> list[int]:
        """Text -> ids, with the BOS/EOS the tokenizer itself adds around every encoding."""
        bos, eos = self._wrap
        return bos + list(self.tokenizer.convert_tokens_to_ids(self.tokenize(text))) + eos

    def _special_wrap(self) -> tuple[list[int], list[int]]:
        """(ids before, ids after) the tokenizer adds to any text, read from encoding the empty string."""
        wrap = list(self.tokenizer("")["input_ids"])
        bos_id, eos_id = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        before = wrap[:1] if wrap and wrap[0] == bos_id else []
        after = wrap[len(before) :] if wrap[len(before) :] == [eos_id] else []
        return before, after

    def _segments(self, text: str) -> list[tuple[str, bool]]:
        """Split on added tokens (longest first), applying their lstrip/rstrip; (segment, is_added) pairs."""
        parts = self._split_pattern.split(text) if self._split_pattern else [text]
        segments = [(part, index % 2 == 1) for index, part in enumerate(parts)]
        for index, (part, is_added) in enumerate(segments):
            if not is_added:
                continue
            token = self._added[part]
            if token.rstrip and index + 1 < len(segments):
                segments[index + 1] = (segments[index + 1][0].lstrip(), False)
            if token.lstrip and index > 0:
                segments[index - 1] = (segments[index - 1][0].rstrip(), False)
        return [(part, is_added) for part, is_added in segments if part]

    def _split_and_encode(self, text: str) -> list[str]:
        pieces: list[str] = []
        for part, is_added in self._segments(text):
            pieces.extend([part] if is_added else self._sentencepiece(part))
        return pieces

    def _sentencepiece(self, text: str) -> list[str]:
        """SentencePiece encoding of one segment (the model's dummy prefix for legacy, none otherwise).

        ``remove_extra_whitespaces`` (a SentencePiece normaliser flag; off for Llama/Vicuna) is applied to
        runs of ASCII spaces only.
        """
        if self.remove_extra_whitespaces:
            text = re.sub(" +", " ", text).strip(" ")
        normalized = text.replace(" ", SPIECE_UNDERLINE)
        if self.legacy and self.dummy_prefix:
            normalized = SPIECE_UNDERLINE + normalized
        return [token.value for token in self.tokenizer.backend_tokenizer.model.tokenize(normalized)]


def _read_varint(data: bytes, index: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[index]
        value |= (byte & 0x7F) << shift
        index += 1
        if byte < 0x80:
            return value, index
        shift += 7


def _protobuf_fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one protobuf message; value = int or bytes (length-delimited)."""
    fields, index = [], 0
    while index < len(data):
        key, index = _read_varint(data, index)
        wire = key & 7
        if wire == 0:
            value, index = _read_varint(data, index)
        elif wire == 2:
            length, index = _read_varint(data, index)
            value, index = data[index : index + length], index + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, index = data[index : index + size], index + size
        else:
            raise MGMInputError(f"unsupported protobuf wire type {wire}: not a SentencePiece model file")
        fields.append((key >> 3, wire, value))
    return fields


def sentencepiece_normalizer_flags(model_file: str | Path) -> dict[str, bool]:
    """``add_dummy_prefix`` and ``remove_extra_whitespaces`` of a SentencePiece ``tokenizer.model``.

    Read straight from the file's protobuf wire format (ModelProto field 3 = NormalizerSpec, its fields 3
    and 4), so no protobuf schema is needed. Absent fields take SentencePiece's defaults (both true).
    """
    flags = {"add_dummy_prefix": True, "remove_extra_whitespaces": True}
    names = {3: "add_dummy_prefix", 4: "remove_extra_whitespaces"}
    data = Path(model_file).read_bytes()
    for number, wire, value in _protobuf_fields(data):
        if number == 3 and wire == 2:
            for inner, inner_wire, flag in _protobuf_fields(value):
                if inner in names and inner_wire == 0:
                    flags[names[inner]] = bool(flag)
    return flags


def _normalizer_flags(path: Path, tokenizer: Any) -> dict[str, bool]:
    """The SentencePiece normaliser flags of a checkpoint: from tokenizer.model, else from tokenizer.json."""
    if (path / "tokenizer.model").is_file():
        return sentencepiece_normalizer_flags(path / "tokenizer.model")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    never = '"prepend_scheme": "never"' in json.dumps(spec.get("pre_tokenizer"))
    return {"add_dummy_prefix": not never, "remove_extra_whitespaces": False}


def is_sentencepiece_llama(tokenizer: Any) -> bool:
    """True for a Llama/Vicuna/Yi-style tokenizer: BPE with byte fallback over ``▁`` pieces."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    uses_metaspace = SPIECE_UNDERLINE in json.dumps([spec.get("pre_tokenizer"), spec.get("normalizer")], ensure_ascii=False)
    return model.get("type") == "BPE" and bool(model.get("byte_fallback")) and uses_metaspace


def tokenizer_image_token(prompt: str, encode: Any, bos_token_id: int | None) -> list[int]:
    """Tokenise ``prompt`` chunk-wise around ``<image>`` (spec §8.2).

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


# --------------------------------------------------------------------------------------------------
# The processor
# --------------------------------------------------------------------------------------------------


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
        sentencepiece_flags: dict[str, bool] | None = None,
    ) -> None:
        """Wrap a tokenizer, an image processor and a template.

        Args:
            tokenizer: a transformers tokenizer.
            image_processor: the image pipeline of the checkpoint.
            template: the conversation template.
            tokenizer_flavour: ``slow`` (4.36 SentencePiece rules: Vicuna/Yi) or ``fast``.
            legacy: the slow tokenizer's ``legacy`` flag (from tokenizer_config.json; 4.36 default True).
            sentencepiece_flags: ``add_dummy_prefix`` / ``remove_extra_whitespaces`` of the SentencePiece
                model (Llama defaults: True / False).
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
        flags = {"add_dummy_prefix": True, "remove_extra_whitespaces": False, **(sentencepiece_flags or {})}
        self.sentencepiece_flags = flags
        self._slow = (
            SlowLlamaTokenization(tokenizer, legacy, flags["add_dummy_prefix"], flags["remove_extra_whitespaces"])
            if tokenizer_flavour == "slow"
            else None
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
        config = read_config_dict(path)
        tokenizer = _load_tokenizer(path, config)
        flavour = tokenizer_flavour or official_tokenizer_flavour(config, tokenizer)
        return cls(
            tokenizer,
            MGMImageProcessor.from_pretrained(path, encoder_root),
            select_template(config, tokenizer, template),
            tokenizer_flavour=flavour,
            legacy=_read_legacy_flag(path),
            sentencepiece_flags=_normalizer_flags(path, tokenizer),
        )

    def save_pretrained(self, out_dir: str | Path) -> Path:
        """Write the tokenizer files into ``out_dir`` so that ``from_pretrained`` gives the same ids back.

        transformers 5 drops the slow-tokenizer keys (``legacy``, ``add_bos_token``) when saving; they are
        written back into tokenizer_config.json because the ``slow`` rules depend on them.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(out))
        config_path = out / "tokenizer_config.json"
        settings = _read_json(config_path) if config_path.is_file() else {}
        bos_wrap, _ = SlowLlamaTokenization(self.tokenizer, self.legacy)._special_wrap()
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

        ``gen=True`` appends the ``" <GEN>"`` trigger to the user text (CLI behaviour, spec §9).
        """
        question = text + GEN_TRIGGER if gen else text
        return self.template.build_prompt(question, num_images=int(has_image), history=history)

    def encode_text(self, text: str) -> list[int]:
        """Encode plain text (no ``<image>``) with BOS as the official tokenizer flavour does."""
        if self._slow is not None:
            return self._slow.encode(text)
        return list(self.tokenizer(text)["input_ids"])

    def tokenize_prompt(self, prompt: str) -> list[int]:
        """Prompt string -> ids with ``-200`` at each ``<image>`` (spec §8.2)."""
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


def official_tokenizer_flavour(config: dict[str, Any], tokenizer: Any) -> str:
    """``slow`` where the official builder used the slow tokenizer and one exists (Vicuna, Yi), else ``fast``.

    The official builder takes ``MGMLlamaForCausalLM`` + ``use_fast=False`` for every ``mgm`` model; only
    SentencePiece tokenizers have a slow version (LLaMA-3's byte-level tokenizer stays fast).
    """
    if config.get("model_type", "mgm") == "mgm" and is_sentencepiece_llama(tokenizer):
        return "slow"
    return "fast"


def resolve_encoder_dir(
    value: str | None, checkpoint_dir: str | Path, encoder_root: str | Path | None, key: str
) -> Path:
    """Find an encoder directory named in config.json (``model_zoo/...`` relative paths in released configs).

    Same search as the model loader (``mg_model.loading.resolve_encoder_dir``): the path as given (absolute
    or relative to the working directory), relative to the checkpoint directory and its parent, under
    ``encoder_root``, then the hub when online. Raises naming the key and the fix when nothing is found.
    """
    from mg_model.loading import resolve_encoder_dir as loader_resolve

    if not value:
        raise MGMInputError(f"config.json of {checkpoint_dir} has no {key!r}; it must name the encoder directory")
    found = loader_resolve(str(value), Path(checkpoint_dir), encoder_root)
    if found is None:
        raise MGMInputError(
            f"{key}={value!r} not found relative to the working directory, {checkpoint_dir} or its parent"
            + (f", or {encoder_root}" if encoder_root is not None else "")
            + "; download the encoder there or pass encoder_root=<dir holding model_zoo/...>"
        )
    return Path(found)


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


_LLM_TYPE_OF_MODEL_TYPE = {"mgm": "llama", "mgm_gemma": "gemma", "mgm_mixtral": "mixtral", "mgm_mistral": "mistral"}


def _load_tokenizer(path: Path, config: dict[str, Any]) -> Any:
    """The checkpoint's tokenizer; the base LLM's config type is passed so config.json is not re-parsed.

    A folder with ``tokenizer.model`` but no ``tokenizer.json`` (a slow tokenizer saved by transformers 4.x,
    as Vicuna/Yi checkpoints are) is converted by :func:`tokenizer_from_sentencepiece`, which needs no protobuf.
    """
    if not (path / "tokenizer.json").is_file() and (path / "tokenizer.model").is_file():
        return tokenizer_from_sentencepiece(path)
    llm_type = _LLM_TYPE_OF_MODEL_TYPE.get(str(config.get("model_type", "mgm")), "llama")
    try:
        return AutoTokenizer.from_pretrained(str(path), config=AutoConfig.for_model(llm_type))
    except (OSError, ValueError) as err:
        raise MGMInputError(f"cannot load the tokenizer of {path} ({err}); the checkpoint needs its tokenizer files") from err


def tokenizer_from_sentencepiece(path: str | Path) -> Any:
    """Build a transformers 5 ``LlamaTokenizer`` from a slow-tokenizer folder (``tokenizer.model`` + configs).

    Pieces, ids and scores are read through the ``sentencepiece`` processor API and the BPE merges derived
    from the scores (as transformers' converter does), so no protobuf schema is involved. Special and
    added tokens come from ``tokenizer_config.json`` (``added_tokens_decoder``, 4.x format) and
    ``special_tokens_map.json``; an added token whose id would differ from the file raises.
    Supports SentencePiece **BPE** models (the Llama family: Vicuna, Yi).
    """
    import sentencepiece as spm
    from transformers import LlamaTokenizer
    from transformers.tokenization_utils_base import generate_merges

    path = Path(path)
    settings = _read_json(path / "tokenizer_config.json") if (path / "tokenizer_config.json").is_file() else {}
    if (path / "special_tokens_map.json").is_file():
        settings = {**_read_json(path / "special_tokens_map.json"), **settings}
    processor = spm.SentencePieceProcessor(model_file=str(path / "tokenizer.model"))
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    scores = {piece: processor.get_score(index) for index, piece in enumerate(pieces)}
    controls = {pieces[i] for i in range(len(pieces)) if processor.is_control(i) or processor.is_unknown(i)}
    specials = {key: _token_text(settings.get(key)) for key in ("unk_token", "bos_token", "eos_token", "pad_token")}
    tokenizer = LlamaTokenizer(
        vocab=vocab,
        merges=generate_merges(vocab, scores, skip_tokens=controls),
        legacy=bool(settings.get("legacy", True)),
        add_prefix_space=True,
        unk_token=specials["unk_token"] or pieces[processor.unk_id()],
        bos_token=specials["bos_token"] or pieces[processor.bos_id()],
        eos_token=specials["eos_token"] or pieces[processor.eos_id()],
        add_bos_token=bool(settings.get("add_bos_token", True)),
        add_eos_token=bool(settings.get("add_eos_token", False)),
    )
    _add_tokens_from_config(tokenizer, settings.get("added_tokens_decoder") or {}, path)
    extra = [_token_text(token) for token in settings.get("additional_special_tokens") or []]
    if extra:  # what 4.x's all_special_tokens lists besides bos/eos/unk/pad
        tokenizer.add_special_tokens({"additional_special_tokens": extra})
    if specials["pad_token"]:
        tokenizer.pad_token = specials["pad_token"]
    if isinstance(settings.get("model_max_length"), int):
        tokenizer.model_max_length = settings["model_max_length"]
    return tokenizer


def _token_text(value: Any) -> str | None:
    """A special token from a tokenizer config: a string or a serialised AddedToken dict."""
    if isinstance(value, dict):
        return str(value.get("content"))
    return None if value is None else str(value)


def _add_tokens_from_config(tokenizer: Any, decoder: dict[str, Any], path: Path) -> None:
    from transformers import AddedToken

    for id_text, spec in sorted(decoder.items(), key=lambda item: int(item[0])):
        token = AddedToken(
            spec["content"], lstrip=bool(spec.get("lstrip")), rstrip=bool(spec.get("rstrip")),
            normalized=bool(spec.get("normalized", False)), special=bool(spec.get("special", False)),
        )
        tokenizer.add_tokens([token], special_tokens=token.special)
        got = tokenizer.convert_tokens_to_ids(token.content)
        if got != int(id_text):
            raise MGMInputError(
                f"{path / 'tokenizer_config.json'}: added token {token.content!r} should have id {id_text} "
                f"but gets {got}; the tokenizer files do not belong together"
            )


def _read_legacy_flag(path: Path) -> bool:
    config_path = path / "tokenizer_config.json"
    if not config_path.is_file():
        return True
    return bool(_read_json(config_path).get("legacy", True))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise MGMInputError(f"{path} not found; the encoder directory must hold it (official layout)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise MGMInputError(f"{path} is not valid JSON ({err})") from err
