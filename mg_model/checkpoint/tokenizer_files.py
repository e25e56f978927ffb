"""The tokenizer of a checkpoint folder, as transformers 5 loads it (or converts it from ``tokenizer.model``).

A folder with ``tokenizer.json`` loads through ``AutoTokenizer``. A folder with only ``tokenizer.model`` +
a 4.x ``tokenizer_config.json`` (how a slow tokenizer is saved, e.g. Vicuna/Yi checkpoints) is converted by
:func:`tokenizer_from_sentencepiece` through the ``sentencepiece`` processor API (no protobuf schema):
transformers 5's own conversion of such a folder needs that schema, which does not load here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sentencepiece as spm
from transformers import AddedToken, AutoConfig, AutoTokenizer, LlamaTokenizer
from transformers.tokenization_utils_base import generate_merges

from ..constants import LLM_TYPE_OF_MGM_TYPE
from ..errors import MGMInputError
from .dirs import read_json_file


def load_checkpoint_tokenizer(path: Path, config: dict[str, Any]) -> Any:
    """The checkpoint's tokenizer; the base LLM's config type is passed so config.json is not re-parsed.

    A folder with ``tokenizer.model`` but no ``tokenizer.json`` (a slow tokenizer saved by transformers 4.x,
    as Vicuna/Yi checkpoints are) is converted by :func:`tokenizer_from_sentencepiece`, which needs no protobuf.
    """
    if not (path / "tokenizer.json").is_file() and (path / "tokenizer.model").is_file():
        return tokenizer_from_sentencepiece(path)
    llm_type = LLM_TYPE_OF_MGM_TYPE.get(str(config.get("model_type", "mgm")), "llama")
    try:
        return AutoTokenizer.from_pretrained(str(path), config=AutoConfig.for_model(llm_type))
    except (OSError, ValueError) as err:
        raise MGMInputError(f"cannot load the tokenizer of {path} ({err}); the checkpoint needs its tokenizer files") from err


def read_legacy_flag(path: Path) -> bool:
    """``legacy`` of the folder's tokenizer_config.json (True when absent: the 4.36 default)."""
    return bool(_read_optional_json(path / "tokenizer_config.json").get("legacy", True))


def _read_optional_json(path: Path) -> dict[str, Any]:
    return read_json_file(path) if path.is_file() else {}


def tokenizer_from_sentencepiece(path: str | Path) -> Any:
    """Build a transformers 5 ``LlamaTokenizer`` from a slow-tokenizer folder (``tokenizer.model`` + configs).

    Pieces, ids and scores are read through the ``sentencepiece`` processor API and the BPE merges derived
    from the scores (as transformers' converter does), so no protobuf schema is involved. Special and
    added tokens come from ``tokenizer_config.json`` (``added_tokens_decoder``, 4.x format) and
    ``special_tokens_map.json``; an added token whose id would differ from the file raises.
    Supports SentencePiece **BPE** models (the Llama family: Vicuna, Yi).
    """
    path = Path(path)
    settings = _read_optional_json(path / "tokenizer_config.json")
    settings = {**_read_optional_json(path / "special_tokens_map.json"), **settings}
    try:
        processor = spm.SentencePieceProcessor(model_file=str(path / "tokenizer.model"))
    except (OSError, RuntimeError) as err:  # sentencepiece's "could not parse ModelProto"
        raise MGMInputError(f"{path / 'tokenizer.model'} is not a SentencePiece model ({err}); re-download it") from err
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
