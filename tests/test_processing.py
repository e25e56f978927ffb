"""MGM preprocessing (docs/official_code.md#image-preprocessing) against hand-computed pixels, and tokenisation (docs/official_code.md#tokenisation-around-the-image-placeholder) / batching."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mg_model.conversation import IMAGE_TOKEN_INDEX, MGMInputError, get_template
from mg_model.processing_mgm import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    TINY_TOKENIZER_DIR,
    MGMImageProcessor,
    MGMProcessor,
    SlowLlamaTokenization,
    tokenizer_image_token,
)

PAD = (122, 116, 104)
CLIP_DIR = "model_zoo/OpenAI/clip-vit-large-patch14-336"


def clip_normalized(rgb: tuple[int, int, int]) -> np.ndarray:
    """Hand computation of one normalised pixel: (v / 255 - mean) / std per channel, [3]."""
    return (np.asarray(rgb, dtype=np.float64) / 255 - np.asarray(OPENAI_CLIP_MEAN)) / np.asarray(OPENAI_CLIP_STD)


def block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Average non-overlapping k x k blocks of [C, H, W]."""
    c, h, w = x.shape
    return x.reshape(c, h // k, k, w // k, k).mean(axis=(2, 4))


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TINY_TOKENIZER_DIR))


# ------------------------------------------------------------------------------------------ images


def test_pad_colour_and_normalisation_of_a_wide_image() -> None:
    processor = MGMImageProcessor(image_size_aux=8, image_size_raw=4)
    hr = processor(images=[Image.new("RGB", (8, 4), (255, 0, 0))])["images_aux"][0].numpy()
    red, pad = clip_normalized((255, 0, 0)), clip_normalized(PAD)
    assert processor.pad_color == PAD
    for row in range(8):
        expected = red if 2 <= row < 6 else pad  # wide image pasted at y offset (8 - 4) // 2 = 2
        np.testing.assert_allclose(hr[:, row, :], np.repeat(expected[:, None], 8, axis=1), atol=1e-6)


def test_tall_image_is_padded_left_and_right() -> None:
    processor = MGMImageProcessor(image_size_aux=8, image_size_raw=4)
    hr = processor(images=[Image.new("RGB", (4, 8), (0, 0, 255))])["images_aux"][0].numpy()
    np.testing.assert_allclose(hr[:, 3, 1], clip_normalized(PAD), atol=1e-6)
    np.testing.assert_allclose(hr[:, 3, 2], clip_normalized((0, 0, 255)), atol=1e-6)
    np.testing.assert_allclose(hr[:, 3, 6], clip_normalized(PAD), atol=1e-6)


def test_bicubic_resize_keeps_flat_colours_and_grayscale_becomes_rgb() -> None:
    processor = MGMImageProcessor(image_size_aux=16, image_size_raw=4)
    hr = processor(images=[Image.new("L", (5, 5), 200)])["images_aux"]
    assert hr.shape == (1, 3, 16, 16) and hr.dtype == torch.float32
    np.testing.assert_allclose(hr[0, :, 7, 7].numpy(), clip_normalized((200, 200, 200)), atol=1e-6)


def test_square_mode_resizes_shortest_edge_and_centre_crops() -> None:
    processor = MGMImageProcessor(image_size_aux=4, image_size_raw=2, image_aspect_ratio="square")
    image = Image.new("RGB", (12, 4), (0, 0, 0))
    image.paste((255, 255, 255), (4, 0, 8, 4))  # white middle third survives the centre crop
    hr = processor(images=[image])["images_aux"][0].numpy()
    np.testing.assert_allclose(hr[:, 2, 1], clip_normalized((255, 255, 255)), atol=1e-5)


def _random_8x8(processor: MGMImageProcessor) -> dict[str, torch.Tensor]:
    pixels = np.random.default_rng(0).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return processor(images=[Image.fromarray(pixels)])


def test_lr_is_bilinear_of_normalised_hr_and_hd_crops_are_row_major_with_global_last() -> None:
    processor = MGMImageProcessor(image_size_aux=8, image_size_raw=2, image_grid=2, image_global=True)
    out = _random_8x8(processor)
    hr = out["images_aux"][0].numpy().astype(np.float64)
    lr = block_mean(hr, 2)  # 8 -> 4: bilinear, align_corners=False, exact factor 2 = 2x2 average
    views = out["images"][0].numpy()
    assert out["images"].shape == (1, 5, 3, 2, 2)
    expected_crops = [lr[:, 0:2, 0:2], lr[:, 0:2, 2:4], lr[:, 2:4, 0:2], lr[:, 2:4, 2:4]]
    for index, crop in enumerate(expected_crops):
        np.testing.assert_allclose(views[index], crop, atol=1e-5)
    np.testing.assert_allclose(views[4], block_mean(lr, 2), atol=1e-5)  # global = 2x2 average of LR


def test_non_hd_lr_has_no_antialias() -> None:
    processor = MGMImageProcessor(image_size_aux=8, image_size_raw=2)
    out = _random_8x8(processor)
    hr = out["images_aux"][0].numpy().astype(np.float64)
    # 8 -> 2 bilinear without antialias samples source 4i + 1.5: the mean of pixels (4i+1, 4i+2) per axis.
    expected = hr[:, 1::4, :][:, :, 1::4] + hr[:, 2::4, :][:, :, 1::4] + hr[:, 1::4, :][:, :, 2::4]
    expected = (expected + hr[:, 2::4, :][:, :, 2::4]) / 4
    assert out["images"].shape == (1, 3, 2, 2)
    np.testing.assert_allclose(out["images"][0].numpy(), expected, atol=1e-5)


def test_real_sizes_batched() -> None:
    images = [Image.new("RGB", (640, 480), (10, 200, 30)), Image.new("RGB", (300, 500), (0, 0, 0))]
    out = MGMImageProcessor()(images)
    assert out["images"].shape == (2, 3, 336, 336) and out["images_aux"].shape == (2, 3, 768, 768)
    hd = MGMImageProcessor(image_size_aux=1536, image_grid=2, image_global=True)(images[:1])
    assert hd["images"].shape == (1, 5, 3, 336, 336) and hd["images_aux"].shape == (1, 3, 1536, 1536)


def test_from_configs_reads_checkpoint_and_clip_settings() -> None:
    processor = MGMImageProcessor.from_configs(
        {"image_size_aux": 1536, "image_grid": 2, "image_global": True, "image_aspect_ratio": "pad"},
        {"crop_size": {"height": 336, "width": 336}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25] * 3},
    )
    assert (processor.image_size_aux, processor.image_size_raw, processor.lr_side) == (1536, 336, 672)
    assert processor.num_views == 5 and processor.pad_color == (127, 127, 127)


def test_bad_image_settings_and_inputs_are_clear_errors() -> None:
    with pytest.raises(MGMInputError, match="image_global"):
        MGMImageProcessor(image_grid=1, image_global=True)
    with pytest.raises(MGMInputError, match="images\\[0\\]"):
        MGMImageProcessor()([np.zeros((4, 4, 3))])


# ------------------------------------------------------------------------------------ tokenisation


def test_chunk_tokenisation_keeps_one_bos_and_drops_each_chunks_first_token() -> None:
    def encode_with_bos(text: str) -> list[int]:
        return [1] + [ord(c) for c in text]

    ids = tokenizer_image_token("ab<image>cd<image>", encode_with_bos, bos_token_id=1)
    assert ids == [1, 97, 98, IMAGE_TOKEN_INDEX, 99, 100, IMAGE_TOKEN_INDEX]

    def encode_without_bos(text: str) -> list[int]:
        return [ord(c) for c in text]

    assert tokenizer_image_token("ab<image>cd", encode_without_bos, bos_token_id=1) == [97, 98, -200, 99, 100]


def _read_varint(data: bytes, index: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[index]
        value |= (byte & 0x7F) << shift
        index += 1
        if byte < 0x80:
            return value, index
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not out[-1] & 0x80:
            return bytes(out)


def _without_dummy_prefix(proto: bytes) -> bytes:
    """ModelProto bytes with normalizer_spec.add_dummy_prefix = false (what 4.36 does for legacy=False)."""
    out, index = bytearray(), 0
    while index < len(proto):
        key, start = _read_varint(proto, index)
        wire = key & 7
        if wire == 0:
            end = _read_varint(proto, start)[1]
        elif wire == 2:
            length, start = _read_varint(proto, start)
            end = start + length
        else:
            end = start + (8 if wire == 1 else 4)
        if key >> 3 == 3 and wire == 2:  # normalizer_spec: append field 3 (add_dummy_prefix) = 0
            payload = proto[start:end] + bytes([0x18, 0x00])
            out += _varint(key) + _varint(len(payload)) + payload
        else:
            out += proto[index:end]
        index = end
    return bytes(out)


SLOW_TEXTS = [
    "What is this?",
    "\nWhat is in the image? ASSISTANT:",
    "  two  spaces\n\nand newlines ",
    " leading space",
    "Ünïcode ☃ text 12345 and Zürich",
    "Answer with the option's letter from the given choices directly.",
    "USER: <GEN> <h>a cat</h> [INST]",
    "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n",
    "<start_of_turn>user\n hi<end_of_turn>\n",
]


def _reference_slow_tokenize(sp_on, sp_off, added: list[str], text: str, legacy: bool) -> list[str]:
    """transformers 4.36 slow LlamaTokenizer.tokenize, written from its documented rules, on real SentencePiece."""
    pattern = re.compile("(" + "|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)) + ")")
    if not legacy:
        text = "\u2581" + text.replace("\u2581", " ")
    pieces: list[str] = []
    for index, part in enumerate(pattern.split(text)):
        if not part:
            continue
        if index % 2 == 1:
            pieces.append(part)
        elif legacy:
            pieces.extend(sp_on.encode(part, out_type=str))
        elif part.startswith(("\u2581", " ")):
            unk_length = len(sp_off.encode("<unk>", out_type=str))
            pieces.extend(sp_off.encode("<unk>" + part, out_type=str)[unk_length:])
        else:
            pieces.extend(sp_off.encode(part, out_type=str))
    if not legacy and len(pieces) > 1 and pieces[0] == "\u2581" and pieces[1] in added:
        pieces = pieces[1:]
    return pieces


@pytest.mark.parametrize("legacy", [True, False])
def test_slow_emulation_matches_sentencepiece(tokenizer, legacy: bool) -> None:
    import sentencepiece as spm

    sp_on = spm.SentencePieceProcessor(model_file=str(TINY_TOKENIZER_DIR / "tokenizer.model"))
    sp_off = spm.SentencePieceProcessor(model_proto=_without_dummy_prefix(sp_on.serialized_model_proto()))
    added = [str(t.content) for t in tokenizer.added_tokens_decoder.values()]
    slow = SlowLlamaTokenization(tokenizer, legacy=legacy)
    for text in SLOW_TEXTS:
        assert slow.tokenize(text) == _reference_slow_tokenize(sp_on, sp_off, added, text, legacy), text


def test_slow_and_fast_differ_on_leading_space(tokenizer) -> None:
    """The reason the processor emulates the slow tokenizer: transformers 5's fast one drops a dummy ▁."""
    slow = SlowLlamaTokenization(tokenizer, legacy=False).encode(" leading")
    fast = tokenizer(" leading")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(slow)[:3] == ["<s>", "\u2581", "\u2581le"]
    assert tokenizer.convert_ids_to_tokens(fast)[1] != "\u2581" and slow != fast


# --------------------------------------------------------------------------------------- processor


def write_checkpoint(root: Path, **config: object) -> Path:
    """A checkpoint directory in the official layout: config.json, tokenizer files, model_zoo CLIP dir."""
    checkpoint = root / "MGM-tiny"
    checkpoint.mkdir(parents=True)
    values = {"model_type": "mgm", "mm_vision_tower": CLIP_DIR, "image_size_aux": 16, "image_grid": 1}
    values.update(config)
    (checkpoint / "config.json").write_text(json.dumps(values), encoding="utf-8")
    for file in TINY_TOKENIZER_DIR.iterdir():
        if file.name != "README.md":
            shutil.copy(file, checkpoint / file.name)
    clip = root / CLIP_DIR
    clip.mkdir(parents=True)
    preprocessor = {"crop_size": {"height": 4, "width": 4}, "image_mean": list(OPENAI_CLIP_MEAN),
                    "image_std": list(OPENAI_CLIP_STD)}
    (clip / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")
    return checkpoint


def test_vicuna_checkpoint_gets_slow_tokenizer_and_dummy_prefix_after_image(tmp_path: Path) -> None:
    processor = MGMProcessor.from_pretrained(write_checkpoint(tmp_path))
    assert processor.template.name == "vicuna_v1" and processor.tokenizer_flavour == "slow"
    assert processor.legacy is False
    ids = processor.tokenize_prompt(processor.render_prompt("What is this?"))
    after = processor.tokenizer.convert_ids_to_tokens(ids[ids.index(IMAGE_TOKEN_INDEX) + 1 :][:2])
    assert after == ["\u2581", "<0x0A>"]  # docs/official_code.md#tokenisation-around-the-image-placeholder: Vicuna "\nWhat" -> ▁, <0x0A>, ...
    assert ids[0] == processor.tokenizer.bos_token_id and ids.count(processor.tokenizer.bos_token_id) == 1


TEMPLATE_MARKERS = {
    "vicuna_v1": {},
    "gemma": {"<start_of_turn>": 2, "<end_of_turn>": 1},
    "mistral_instruct": {},
    "chatml_direct": {"<|im_start|>": 3, "<|im_end|>": 2},
    "llama_3": {"<|start_header_id|>": 3, "<|end_header_id|>": 3, "<|eot_id|>": 2},
    "plain": {},
}


@pytest.mark.parametrize("name", sorted(TEMPLATE_MARKERS))
def test_every_template_tokenises_to_one_bos_one_image_and_its_markers(tmp_path: Path, name: str) -> None:
    processor = MGMProcessor.from_pretrained(write_checkpoint(tmp_path), template=name)
    prompt = processor.render_prompt("What is this?")
    assert prompt == get_template(name).build_prompt("What is this?")
    ids = processor.tokenize_prompt(prompt)
    tokenizer = processor.tokenizer
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert ids.count(IMAGE_TOKEN_INDEX) == 1
    for marker, count in TEMPLATE_MARKERS[name].items():
        assert ids.count(tokenizer.convert_tokens_to_ids(marker)) == count, marker
    before, after = ids[1 : ids.index(IMAGE_TOKEN_INDEX)], ids[ids.index(IMAGE_TOKEN_INDEX) + 1 :]
    text_before, text_after = prompt.split("<image>")
    assert tokenizer.decode(before) == text_before
    assert tokenizer.decode(after) == text_after  # the decoder drops the chunk's dummy-prefix space


def test_batch_is_left_padded_with_zero_images_for_text_only(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path, image_size_aux=16, image_grid=2, image_global=True)
    processor = MGMProcessor.from_pretrained(checkpoint)
    image = Image.new("RGB", (20, 10), (255, 255, 255))
    batch = processor(images=[image, None], texts=["What is in the picture?", "Hi"])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    lengths = mask.sum(dim=1).tolist()
    assert ids.shape == mask.shape and ids.shape[1] == max(lengths) and lengths[1] < lengths[0]
    pad = ids.shape[1] - lengths[1]
    assert mask[1, :pad].sum() == 0 and bool((ids[1, :pad] == processor.tokenizer.unk_token_id).all())
    assert bool(mask[:, -1].all())  # left padding: every row ends with a real token
    assert (ids == IMAGE_TOKEN_INDEX).sum(dim=1).tolist() == [1, 0]
    single = processor(images=[None], texts=["Hi"])
    assert ids[1, pad:].tolist() == single["input_ids"][0].tolist() and "images" not in single
    assert batch["images"].shape == (2, 5, 3, 4, 4) and batch["images_aux"].shape == (2, 3, 16, 16)
    assert float(batch["images"][1].abs().sum()) == 0.0 and float(batch["images_aux"][1].abs().sum()) == 0.0
    alone = processor(images=[image], texts=["What is in the picture?"])
    assert torch.equal(batch["images"][0], alone["images"][0])


def test_gen_trigger_decode_and_stops(tmp_path: Path) -> None:
    processor = MGMProcessor.from_pretrained(write_checkpoint(tmp_path))
    assert processor.render_prompt("Draw a cat.", gen=True).endswith("USER: <image>\nDraw a cat. <GEN> ASSISTANT:")
    ids = processor.encode_text("A red bus.")[1:] + [processor.tokenizer.eos_token_id]
    assert processor.batch_decode(torch.tensor([[IMAGE_TOKEN_INDEX] + ids])) == ["A red bus."]
    assert processor.stop_strings == ["</s>"] and processor.eos_token_ids == [processor.tokenizer.eos_token_id]


def test_gemma_checkpoint_uses_gemma_template_and_fast_tokenizer(tmp_path: Path) -> None:
    processor = MGMProcessor.from_pretrained(write_checkpoint(tmp_path, model_type="mgm_gemma"))
    assert processor.template.name == "gemma" and processor.tokenizer_flavour == "fast"


def test_encoder_dir_found_through_encoder_root(tmp_path: Path) -> None:
    checkpoint = write_checkpoint(tmp_path / "zoo")
    moved = tmp_path / "elsewhere" / "MGM-tiny"
    shutil.move(str(checkpoint), moved)
    with pytest.raises(MGMInputError, match="mm_vision_tower"):
        MGMProcessor.from_pretrained(moved)
    processor = MGMProcessor.from_pretrained(moved, encoder_root=tmp_path / "zoo")
    assert processor.image_processor.image_size_raw == 4


def test_bad_batches_are_rejected_before_work(tmp_path: Path) -> None:
    processor = MGMProcessor.from_pretrained(write_checkpoint(tmp_path))
    with pytest.raises(MGMInputError, match="2 images for 1 texts"):
        processor(images=[None, None], texts=["a"])
    with pytest.raises(MGMInputError, match="list of strings"):
        processor(texts="a")
    with pytest.raises(MGMInputError, match="already contains"):
        processor(texts=["<image>\nwhat"])


def _slow_tokenizer_folder(folder: Path, tokenizer) -> None:
    """What transformers 4.x writes for a slow LlamaTokenizer: tokenizer.model + a 4.x tokenizer_config.json."""
    shutil.copy(TINY_TOKENIZER_DIR / "tokenizer.model", folder / "tokenizer.model")
    decoder = {
        str(index): {"content": str(token.content), "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
        for index, token in tokenizer.added_tokens_decoder.items()
    }
    settings = {"add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": decoder, "legacy": False,
                "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
                "tokenizer_class": "LlamaTokenizer", "model_max_length": 2048,
                "additional_special_tokens": [str(t.content) for i, t in sorted(tokenizer.added_tokens_decoder.items())
                                              if i >= 800]}
    (folder / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")


def test_checkpoint_with_only_a_sentencepiece_model_gives_the_same_ids(tmp_path: Path, tokenizer) -> None:
    reference = MGMProcessor.from_pretrained(write_checkpoint(tmp_path / "a"))
    checkpoint = write_checkpoint(tmp_path / "b")
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        (checkpoint / name).unlink()
    _slow_tokenizer_folder(checkpoint, tokenizer)
    converted = MGMProcessor.from_pretrained(checkpoint)
    assert converted.tokenizer_flavour == "slow" and converted.legacy is False
    for template in ("vicuna_v1", "chatml_direct", "llama_3"):
        prompt = get_template(template).build_prompt("Ünïcode  text 12?")
        assert converted.tokenize_prompt(prompt) == reference.tokenize_prompt(prompt), template
    assert converted.tokenizer.convert_tokens_to_ids("<|eot_id|>") == 806


def test_slow_flavour_without_a_sentencepiece_model_is_a_clear_error(tmp_path: Path) -> None:
    """tokenizer.json alone cannot give the official slow ids: say so (and how to fix), or run fast on request."""
    checkpoint = write_checkpoint(tmp_path)
    (checkpoint / "tokenizer.model").unlink()
    with pytest.raises(MGMInputError, match="needs the SentencePiece model tokenizer.model.*tokenizer_flavour='fast'"):
        MGMProcessor.from_pretrained(checkpoint)
    assert MGMProcessor.from_pretrained(checkpoint, tokenizer_flavour="fast").tokenizer_flavour == "fast"


def test_added_token_id_mismatch_is_reported(tmp_path: Path, tokenizer) -> None:
    from mg_model.processing_mgm import tokenizer_from_sentencepiece

    _slow_tokenizer_folder(tmp_path, tokenizer)
    settings = json.loads((tmp_path / "tokenizer_config.json").read_text())
    settings["added_tokens_decoder"]["900"] = settings["added_tokens_decoder"].pop("807")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings))
    with pytest.raises(MGMInputError, match="should have id 900"):
        tokenizer_from_sentencepiece(tmp_path)


# Exact ids of "What is this?" with an image, tiny tokenizer (asset regression; pieces shown for review).
EXPECTED_IDS = {
    # <s> ▁[ I N ST ] ▁ | -200 | ▁ <0x0A> W hat ▁is ▁this ? ▁[/ I N ST ]
    "mistral_instruct": [1, 369, 762, 787, 545, 771, 727, -200, 727, 13, 765, 293, 279, 363, 753, 649, 762, 787, 545, 771],
    # <s> <start_of_turn> us er <0x0A> | -200 | ▁ <0x0A> W hat ▁is ▁this ? <end_of_turn> <0x0A> <start_of_turn> m o del <0x0A>
    "gemma": [1, 800, 296, 264, 13, -200, 727, 13, 765, 293, 279, 363, 753, 801, 13, 800, 747, 734, 595, 13],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_IDS))
def test_expected_ids_with_the_tiny_tokenizer(tmp_path: Path, name: str) -> None:
    processor = MGMProcessor.from_pretrained(write_checkpoint(tmp_path), template=name)
    assert processor.tokenize_prompt(processor.render_prompt("What is this?")) == EXPECTED_IDS[name]


def test_hr_tensor_equals_transformers_pil_clip_processor_not_the_torchvision_default() -> None:
    """Our HR step == transformers 5 ``CLIPImageProcessorPil`` (the 4.36 numerics); the default differs."""
    from transformers import CLIPImageProcessor
    from transformers.models.clip import CLIPImageProcessorPil

    pixels = np.random.default_rng(1).integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    processor = MGMImageProcessor(image_size_aux=96, image_size_raw=48)
    ours = processor(images=[Image.fromarray(pixels)])["images_aux"][0]
    padded = processor.expand_to_square(Image.fromarray(pixels))
    sizes = {"size": {"shortest_edge": 96}, "crop_size": {"height": 96, "width": 96}}
    pil = CLIPImageProcessorPil(**sizes)(images=[padded], return_tensors="pt")["pixel_values"][0]
    assert torch.equal(ours, pil)
    default = CLIPImageProcessor(**sizes)(images=[padded], return_tensors="pt")["pixel_values"][0]
    assert float((default - ours).abs().max()) > 1e-3


def test_save_pretrained_round_trip_keeps_slow_rules(tmp_path: Path, tokenizer) -> None:
    checkpoint = write_checkpoint(tmp_path / "a")
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        (checkpoint / name).unlink()
    _slow_tokenizer_folder(checkpoint, tokenizer)  # a 4.x slow folder, converted on load
    original = MGMProcessor.from_pretrained(checkpoint)
    copy = write_checkpoint(tmp_path / "b")
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        (copy / name).unlink()
    original.save_pretrained(copy)
    reloaded = MGMProcessor.from_pretrained(copy)
    assert (reloaded.legacy, reloaded.tokenizer_flavour) == (original.legacy, original.tokenizer_flavour)
    for text in (" leading space", "What is this?"):
        prompt = reloaded.render_prompt(text)
        assert reloaded.tokenize_prompt(prompt) == original.tokenize_prompt(prompt)


def test_dummy_prefix_switch_equals_editing_the_model_field() -> None:
    """legacy=False loads the model with add_dummy_prefix off (4.36: protobuf MergeFrom); ours appends a
    NormalizerSpec fragment. Same pieces as a model whose own normalizer field was rewritten."""
    import sentencepiece as spm

    from mg_model.slow_tokenizer import load_sentencepiece

    model = (TINY_TOKENIZER_DIR / "tokenizer.model").read_bytes()
    edited = spm.SentencePieceProcessor(model_proto=_without_dummy_prefix(model))
    switched = load_sentencepiece(model, add_dummy_prefix=False)
    assert load_sentencepiece(model).normalize("a") == "\u2581a" and switched.normalize("a") == "a"
    assert switched.get_piece_size() == edited.get_piece_size()
    for text in SLOW_TEXTS:
        assert switched.encode(text, out_type=str) == edited.encode(text, out_type=str), text


def test_legacy_model_without_dummy_prefix_matches_sentencepiece(tokenizer) -> None:
    """A SentencePiece model with add_dummy_prefix off (legacy rules): no ▁ is invented before segments."""
    import sentencepiece as spm

    sp_on = spm.SentencePieceProcessor(model_file=str(TINY_TOKENIZER_DIR / "tokenizer.model"))
    sp_off = spm.SentencePieceProcessor(model_proto=_without_dummy_prefix(sp_on.serialized_model_proto()))
    added = [str(t.content) for t in tokenizer.added_tokens_decoder.values()]
    slow = SlowLlamaTokenization(tokenizer, legacy=True, sentencepiece_model=_without_dummy_prefix(sp_on.serialized_model_proto()))
    for text in SLOW_TEXTS:
        assert slow.tokenize(text) == _reference_slow_tokenize(sp_off, sp_off, added, text, legacy=True), text


GOLDENS = Path(__file__).resolve().parent / "data" / "processing_slow_tokenizer_goldens.json"


@pytest.mark.parametrize("legacy", [True, False])
def test_slow_flavour_reproduces_transformers_4_36_ids(tokenizer, legacy: bool) -> None:
    """Ids recorded with transformers 4.36.2's slow LlamaTokenizer (scripts/make_slow_tokenizer_goldens.py)."""
    payload = json.loads(GOLDENS.read_text(encoding="utf-8"))
    assert payload["transformers"] == "4.36.2"
    records = [record for record in payload["records"] if record["legacy"] is legacy]
    assert len(records) == 24
    processor = MGMProcessor(
        tokenizer, MGMImageProcessor(), get_template("vicuna_v1"), tokenizer_flavour="slow", legacy=legacy
    )
    for record in records:
        assert processor.tokenize_prompt(record["prompt"]) == record["ids"], (record["template"], record["prompt"])


IMAGE_GOLDENS = Path(__file__).resolve().parent / "data" / "processing_image_goldens.npz"


@pytest.mark.parametrize(("name", "aux", "hd"), [("hd", 32, True), ("plain", 20, False)])
def test_pixels_equal_the_official_pipeline_on_transformers_4_36(name: str, aux: int, hd: bool) -> None:
    """Bit-exact against the official eval preprocessing run on transformers 4.36.2 (scripts/make_image_goldens.py)."""
    goldens = np.load(IMAGE_GOLDENS)
    images = [Image.fromarray(goldens[f"image_{index}"]) for index in range(4)]
    processor = MGMImageProcessor(image_size_aux=aux, image_size_raw=8, image_grid=2 if hd else 1, image_global=hd)
    out = processor(images=images)  # one batch: the vectorised steps must not mix samples
    for index in range(4):
        assert np.array_equal(out["images_aux"][index].numpy(), goldens[f"{name}_images_aux_{index}"])
        assert np.array_equal(out["images"][index].numpy(), goldens[f"{name}_images_{index}"])
