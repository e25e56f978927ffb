"""transformers 4.36's slow (SentencePiece) ``LlamaTokenizer``: how the official code tokenises Vicuna/Yi prompts.

The official builder loads Vicuna and Yi with ``AutoTokenizer(use_fast=False)``; transformers 5 has no slow
Llama tokenizer any more (``AutoTokenizer`` ignores ``use_fast``). That slow tokenizer is two layers:

1. transformers' ``PreTrainedTokenizer.tokenize``: split the text on the added tokens (longest first,
   honouring their ``lstrip`` / ``rstrip``), then ``LlamaTokenizer``'s ``legacy`` rules for the dummy
   prefix ``▁``;
2. ``sentencepiece.SentencePieceProcessor.encode(segment, out_type=str)`` on ``tokenizer.model``, and
   ``piece_to_id`` for the ids.

Layer 2 is the ``sentencepiece`` library itself here (:func:`load_sentencepiece`): segmentation, byte
fallback and every normaliser setting of the model (dummy prefix, extra whitespace, normalisation rules)
are the library's. Layer 1 is reproduced (:class:`SlowLlamaTokenization`) because it is transformers code,
not SentencePiece: the library knows nothing of transformers' added tokens (the template markers) or of
the ``legacy`` flag.

``legacy=False`` also loads the model with ``normalizer_spec.add_dummy_prefix = false``; transformers 4.36
does that with the protobuf schema (``ModelProto.normalizer_spec.MergeFrom``). The schema that ships with
sentencepiece (``sentencepiece_model_pb2``, gencode 7.36) refuses to load on the protobuf runtime of this
environment (6.33), and the library's ``SentencePieceNormalizer`` can change the flag only on a normaliser
alone, so the same merge is done on the serialised model: protobuf merges a message field that appears
twice, so appending a NormalizerSpec that holds only ``add_dummy_prefix = false`` is exactly ``MergeFrom``
(:data:`NO_DUMMY_PREFIX`). The library then confirms the flag is off (``normalize("a") == "a"``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sentencepiece as spm

from .errors import MGMInputError

SPIECE_UNDERLINE = "\u2581"
# Serialised ModelProto fragment: field 3 (normalizer_spec; tag 3<<3|2 = 0x1A), 2 bytes long, holding
# NormalizerSpec field 3 (add_dummy_prefix; tag 3<<3|0 = 0x18) = 0. Appended to a model it switches the
# dummy prefix off and keeps every other field (protobuf merge of a repeated message field).
NO_DUMMY_PREFIX = bytes([0x1A, 0x02, 0x18, 0x00])


def load_sentencepiece(model: bytes, add_dummy_prefix: bool = True) -> spm.SentencePieceProcessor:
    """A SentencePiece processor for a serialised model, optionally with its dummy prefix switched off.

    Args:
        model: the bytes of ``tokenizer.model``.
        add_dummy_prefix: False = what 4.36's ``LlamaTokenizer(legacy=False)`` loads.
    """
    try:
        processor = spm.SentencePieceProcessor(model_proto=model if add_dummy_prefix else model + NO_DUMMY_PREFIX)
    except RuntimeError as err:  # sentencepiece's "could not parse ModelProto"
        raise MGMInputError(f"tokenizer.model is not a SentencePiece model ({err}); re-download the checkpoint's "
                            "tokenizer.model") from err
    if not add_dummy_prefix and processor.normalize("a") != "a":
        raise MGMInputError("could not switch off add_dummy_prefix of the SentencePiece model (tokenizer.model)")
    return processor


def sentencepiece_model_bytes(tokenizer: Any, model: str | Path | bytes | None) -> bytes:
    """The ``tokenizer.model`` bytes: ``model`` (path or bytes), else the tokenizer's own ``vocab_file``."""
    if model is None:
        vocab_file = getattr(tokenizer, "vocab_file", None)
        model = Path(vocab_file) if vocab_file and Path(vocab_file).is_file() else None
    if model is None:
        where = getattr(tokenizer, "name_or_path", "") or "the tokenizer's folder"
        raise MGMInputError(
            f"tokenizer_flavour='slow' (the official tokenizer of Vicuna/Yi checkpoints) needs the SentencePiece "
            f"model tokenizer.model, and {where} has none; copy the base LLM's tokenizer.model next to "
            "tokenizer.json, or pass tokenizer_flavour='fast' (transformers 5's tokenizer; its ids differ from the "
            "official ones where a text segment starts with a space)"
        )
    return bytes(model) if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()


def special_token_wrap(tokenizer: Any) -> tuple[list[int], list[int]]:
    """(ids before, ids after) the tokenizer adds to any text, read from encoding the empty string."""
    wrap = list(tokenizer("")["input_ids"])
    bos_id, eos_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    before = wrap[:1] if wrap and wrap[0] == bos_id else []
    after = wrap[len(before) :] if wrap[len(before) :] == [eos_id] else []
    return before, after


def check_same_vocabulary(processor: spm.SentencePieceProcessor, tokenizer: Any) -> None:
    """Raise unless the SentencePiece model and the transformers tokenizer give every id the same piece."""
    size = processor.get_piece_size()
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    for index, piece in enumerate(pieces):
        if piece != processor.id_to_piece(index):
            raise MGMInputError(
                f"tokenizer.model and the tokenizer files disagree on id {index} ({processor.id_to_piece(index)!r} "
                f"vs {piece!r}); they do not belong together: re-download the checkpoint's tokenizer files"
            )


@dataclass
class SlowLlamaTokenization:
    """4.36's slow ``LlamaTokenizer.tokenize`` / ``encode``: transformers' rules over the real SentencePiece model.

    * ``legacy=True`` (4.36 default when tokenizer_config.json has no ``legacy`` key): every text segment
      between added tokens is encoded by SentencePiece with the model's own normaliser (dummy prefix ``▁``).
    * ``legacy=False``: the model's dummy prefix is off; ``▁`` is prepended once to the whole text; a segment
      that starts with a space is encoded behind ``<unk>`` (so SentencePiece keeps that space) and the
      ``<unk>`` pieces are dropped; a lone ``▁`` right before a special token is dropped.

    Attributes:
        tokenizer: the transformers 5 tokenizer (added tokens, BOS/EOS, special tokens, decoding).
        legacy: the ``legacy`` flag of tokenizer_config.json.
        sentencepiece_model: ``tokenizer.model`` (path or bytes); None = the tokenizer's ``vocab_file``.
    """

    tokenizer: Any
    legacy: bool
    sentencepiece_model: str | Path | bytes | None = None
    model_bytes: bytes = field(init=False, repr=False)
    _split_pattern: re.Pattern[str] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.model_bytes = sentencepiece_model_bytes(self.tokenizer, self.sentencepiece_model)
        self._sp = load_sentencepiece(self.model_bytes, add_dummy_prefix=self.legacy)
        check_same_vocabulary(self._sp, self.tokenizer)
        added = self.tokenizer.added_tokens_decoder.values()
        contents = sorted((str(t.content) for t in added), key=len, reverse=True)
        if contents:
            self._split_pattern = re.compile("(" + "|".join(re.escape(c) for c in contents) + ")")
        self._added = {str(t.content): t for t in added}
        self._added_ids = {str(t.content): index for index, t in self.tokenizer.added_tokens_decoder.items()}
        self._wrap = special_token_wrap(self.tokenizer)
        self._unk_length = len(self._sp.encode(str(self.tokenizer.unk_token), out_type=str))

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
        """Text -> ids, with the BOS/EOS the tokenizer itself adds around every encoding.

        Ids as 4.36's ``convert_tokens_to_ids``: added tokens first, else SentencePiece's ``piece_to_id``.
        """
        bos, eos = self._wrap
        ids = [self._added_ids[p] if p in self._added_ids else self._sp.piece_to_id(p) for p in self.tokenize(text)]
        return bos + ids + eos

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
        """SentencePiece pieces of one segment between added tokens (4.36 ``LlamaTokenizer._tokenize``)."""
        if self.legacy or not text.startswith((SPIECE_UNDERLINE, " ")):
            return self._sp.encode(text, out_type=str)
        pieces = self._sp.encode(str(self.tokenizer.unk_token) + text, out_type=str)
        return pieces[self._unk_length :] if len(pieces) >= self._unk_length else pieces


def is_sentencepiece_llama(tokenizer: Any) -> bool:
    """True for a Llama/Vicuna/Yi-style tokenizer: BPE with byte fallback over ``▁`` pieces."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return False
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    uses_metaspace = SPIECE_UNDERLINE in json.dumps([spec.get("pre_tokenizer"), spec.get("normalizer")], ensure_ascii=False)
    return model.get("type") == "BPE" and bool(model.get("byte_fallback")) and uses_metaspace


def official_tokenizer_flavour(config: dict[str, Any], tokenizer: Any) -> str:
    """``slow`` where the official builder used the slow tokenizer and one exists (Vicuna, Yi), else ``fast``.

    The official builder takes ``MGMLlamaForCausalLM`` + ``use_fast=False`` for every ``mgm`` model; only
    SentencePiece tokenizers have a slow version (LLaMA-3's byte-level tokenizer stays fast).
    """
    if config.get("model_type", "mgm") == "mgm" and is_sentencepiece_llama(tokenizer):
        return "slow"
    return "fast"
