"""Embedding splice (docs/official_code.md#embedding-splice) and batched generation with left padding (same tokens as batch size 1)."""

from __future__ import annotations

import pytest
import torch

from mg_model import IGNORE_INDEX, IMAGE_TOKEN_INDEX, build_tiny_model

PROMPTS = [
    [1, 300, 301, 13, IMAGE_TOKEN_INDEX, 13, 400, 401, 402, 403, 404],
    [1, 310, IMAGE_TOKEN_INDEX, 13, 410],
    [1, 320, 321, 322, 13, IMAGE_TOKEN_INDEX, 13, 420, 421],
]


@pytest.fixture(scope="module")
def model():
    return build_tiny_model(seed=3)


@pytest.fixture(scope="module")
def model_hd():
    return build_tiny_model(hd=True, seed=3)


def _images(count: int, hd: bool = False, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    shape = (count, 5, 3, 56, 56) if hd else (count, 3, 56, 56)
    side = 256 if hd else 128
    return torch.randn(*shape, generator=generator), torch.randn(count, 3, side, side, generator=generator)


def _left_padded(prompts: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (length - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def test_splice_puts_visual_tokens_at_the_placeholder(model) -> None:
    images, images_aux = _images(1)
    ids = torch.tensor([PROMPTS[1]])
    labels = torch.tensor([[IGNORE_INDEX, 310, IGNORE_INDEX, 13, 410]])
    with torch.no_grad():
        out = model.embed_multimodal(ids, None, images, images_aux, labels=labels)
        features = model.encode_images(images, images_aux)
        text = model.model.embed_tokens(torch.tensor([1, 310, 13, 410]))
    embeds = out["inputs_embeds"][0]
    assert embeds.shape == (4 + 16, 64)
    torch.testing.assert_close(embeds[:2], text[:2])
    torch.testing.assert_close(embeds[2:18], features[0])
    torch.testing.assert_close(embeds[18:], text[2:])
    assert out["labels"][0].tolist() == [IGNORE_INDEX, 310] + [IGNORE_INDEX] * 16 + [13, 410]
    assert out["position_ids"][0].tolist() == list(range(20))


@pytest.mark.parametrize("side", ["left", "right"])
def test_splice_padding_side_and_positions(model, side: str) -> None:
    images, images_aux = _images(2)
    ids, mask = _left_padded(PROMPTS[:2])
    with torch.no_grad():
        out = model.embed_multimodal(ids, mask, images, images_aux, padding_side=side)
    lengths = [len(PROMPTS[0]) - 1 + 16, len(PROMPTS[1]) - 1 + 16]
    new_mask = out["attention_mask"]
    assert new_mask.sum(dim=1).tolist() == lengths
    short = new_mask[1].tolist()
    gap = lengths[0] - lengths[1]
    assert short == ([0] * gap + [1] * lengths[1] if side == "left" else [1] * lengths[1] + [0] * gap)
    real_positions = out["position_ids"][1][new_mask[1].bool()]
    assert real_positions.tolist() == list(range(lengths[1]))


def test_splice_truncates_to_tokenizer_model_max_length() -> None:
    model = build_tiny_model(seed=3, tokenizer_model_max_length=10)
    images, images_aux = _images(1)
    with torch.no_grad():
        out = model.embed_multimodal(torch.tensor([PROMPTS[1]]), None, images, images_aux)
    assert out["inputs_embeds"].shape[1] == 10


def test_image_count_mismatch_is_a_clear_error(model) -> None:
    images, images_aux = _images(3)
    ids, mask = _left_padded(PROMPTS[:2])
    with pytest.raises(ValueError, match="3 image"):
        model.embed_multimodal(ids, mask, images, images_aux)
    with pytest.raises(ValueError, match="no images"):
        model.embed_multimodal(ids, mask, None, None)


@pytest.mark.parametrize("hd", [False, True])
def test_batched_greedy_equals_batch_size_one(model, model_hd, hd: bool) -> None:
    mgm = model_hd if hd else model
    images, images_aux = _images(3, hd=hd)
    ids, mask = _left_padded(PROMPTS)
    kwargs = {"max_new_tokens": 6, "do_sample": False, "eos_token_id": 2, "pad_token_id": 0}
    batched = mgm.generate(input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux, **kwargs)
    assert batched.shape[0] == 3 and batched.shape[1] <= 6  # new tokens only
    for i, prompt in enumerate(PROMPTS):
        single = mgm.generate(
            input_ids=torch.tensor([prompt]), images=images[i : i + 1], images_aux=images_aux[i : i + 1], **kwargs
        )
        assert batched[i, : single.shape[1]].tolist() == single[0].tolist()


def test_batched_beam_search_equals_batch_size_one(model) -> None:
    images, images_aux = _images(2, seed=5)
    ids, mask = _left_padded(PROMPTS[:2])
    kwargs = {"max_new_tokens": 5, "do_sample": False, "num_beams": 3, "eos_token_id": 2, "pad_token_id": 0}
    batched = model.generate(input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux, **kwargs)
    for i in range(2):
        single = model.generate(
            input_ids=torch.tensor([PROMPTS[i]]), images=images[i : i + 1], images_aux=images_aux[i : i + 1], **kwargs
        )
        assert batched[i, : single.shape[1]].tolist() == single[0].tolist()


def test_sampling_is_reproducible_with_a_seed(model) -> None:
    images, images_aux = _images(2, seed=6)
    ids, mask = _left_padded(PROMPTS[:2])
    kwargs = {"max_new_tokens": 6, "do_sample": True, "temperature": 1.0, "top_p": None, "pad_token_id": 0}
    runs = []
    for _ in range(2):
        torch.manual_seed(42)
        runs.append(model.generate(input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux, **kwargs))
    assert runs[0].tolist() == runs[1].tolist()


def test_stop_strings_end_generation(model) -> None:
    from transformers import AutoTokenizer

    from mg_model.tiny import TOKENIZER_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    images, images_aux = _images(1, seed=8)
    inputs = {"input_ids": torch.tensor([PROMPTS[0]]), "images": images, "images_aux": images_aux}
    free = model.generate(**inputs, max_new_tokens=8, do_sample=False, pad_token_id=0)
    third = tokenizer.decode(free[0, 2:3])
    stopped = model.generate(
        **inputs, max_new_tokens=8, do_sample=False, pad_token_id=0, stop_strings=[third], tokenizer=tokenizer
    )
    assert stopped.shape[1] <= 3 < free.shape[1]
    assert stopped[0].tolist() == free[0, : stopped.shape[1]].tolist()


def test_text_only_generation_and_training_loss(model) -> None:
    ids, mask = _left_padded([[1, 300, 301, 302], [1, 303]])
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert out.shape == (2, 3)
    images, images_aux = _images(1)
    ids = torch.tensor([PROMPTS[1]])
    result = model(input_ids=ids, images=images, images_aux=images_aux, labels=ids.clone())
    assert result.logits.shape == (1, 20, 808) and torch.isfinite(result.loss)


def test_processor_to_generate_end_to_end_batch_equals_single(tiny_checkpoint) -> None:
    from PIL import Image, ImageDraw

    from mg_model import MGMForCausalLM, MGMProcessor

    model = MGMForCausalLM.from_pretrained(tiny_checkpoint)
    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    wide, tall = Image.new("RGB", (60, 30), (200, 30, 30)), Image.new("RGB", (20, 70), (30, 200, 30))
    ImageDraw.Draw(wide).rectangle((5, 5, 25, 20), fill=(0, 0, 255))
    texts = ["What is this?", "Read the sign on the wall, then describe the colours."]
    kwargs = {"max_new_tokens": 5, "do_sample": False}
    batched = model.generate(**processor(images=[wide, tall], texts=texts), **kwargs)
    for i, (image, text) in enumerate(zip([wide, tall], texts)):
        single = model.generate(**processor(images=[image], texts=[text]), **kwargs)
        assert batched[i, : single.shape[1]].tolist() == single[0].tolist()
    answers = processor.batch_decode(batched, skip_special_tokens=True)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def test_seeded_sampling_gives_the_same_tokens_alone_or_batched(model) -> None:
    images, images_aux = _images(3, seed=9)
    ids, mask = _left_padded(PROMPTS)
    kwargs = {"max_new_tokens": 6, "do_sample": True, "temperature": 1.5, "top_k": 0, "pad_token_id": 0}
    seeds = [11, 22, 33]
    batched = model.generate(
        input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux, sample_seeds=seeds, **kwargs
    )
    for i, prompt in enumerate(PROMPTS):
        single = model.generate(
            input_ids=torch.tensor([prompt]), images=images[i : i + 1], images_aux=images_aux[i : i + 1],
            sample_seeds=[seeds[i]], **kwargs,
        )
        assert batched[i, : single.shape[1]].tolist() == single[0].tolist()
    greedy = model.generate(input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux,
                            max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert batched.tolist() != greedy.tolist()  # it does sample (temperature 1.5, no top-k)
    other = model.generate(input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux,
                           sample_seeds=[1, 2, 3], **kwargs)
    assert other.tolist() != batched.tolist()


def test_per_sample_sampler_draws_from_the_warped_distribution() -> None:
    from mg_model.generation.sampling import PerSampleSampler

    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1, 1e-9]]))
    counts = torch.zeros(4)
    sampler = PerSampleSampler([5], temperature=1.0, top_k=2, top_p=1.0)
    for _ in range(3000):
        counts[sampler(torch.zeros(1, 1, dtype=torch.long), logits).argmax()] += 1
    assert counts[2] == 0 and counts[3] == 0  # top-k 2 keeps tokens 0 and 1 only
    assert abs(counts[0] / 3000 - 2 / 3) < 0.04  # 0.6 / (0.6 + 0.3)


def test_mixed_batch_text_only_sample_ignores_its_blank_image(model) -> None:
    images, images_aux = _images(2, seed=10)
    prompts = [PROMPTS[1], [1, 300, 301, 302, 303]]  # the second sample has no image token
    ids, mask = _left_padded(prompts)
    kwargs = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": 0}
    batched = model.generate(input_ids=ids, attention_mask=mask, images=images, images_aux=images_aux, **kwargs)
    text_only = model.generate(input_ids=torch.tensor([prompts[1]]), **kwargs)
    with_image = model.generate(input_ids=torch.tensor([prompts[0]]), images=images[:1], images_aux=images_aux[:1],
                                **kwargs)
    assert batched[0, : with_image.shape[1]].tolist() == with_image[0].tolist()
    assert batched[1, : text_only.shape[1]].tolist() == text_only[0].tolist()
