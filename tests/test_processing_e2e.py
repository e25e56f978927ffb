"""MGMProcessor on tiny checkpoints written by ``build_tiny_checkpoint`` (official layout), through generate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from mg_model import MGMForCausalLM, MGMProcessor, build_tiny_checkpoint

TEXTS = ["What is this?", "Say something long about the weather today, please."]


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny_llama") / "MGM-tiny", llm="llama", seed=0)


def test_mixed_batch_generates_the_same_tokens_as_single_samples(tiny_llama: Path) -> None:
    model = MGMForCausalLM.from_pretrained(tiny_llama, torch_dtype=torch.float32)
    processor = MGMProcessor.from_pretrained(tiny_llama)
    assert processor.template.name == "vicuna_v1" and processor.tokenizer_flavour == "slow"
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    batch = processor(images=[image, None], texts=TEXTS)
    side = model.config.image_size_aux
    assert batch["images_aux"].shape == (2, 3, side, side)
    together = model.generate(**batch, max_new_tokens=6, do_sample=False)
    alone = [
        model.generate(**processor(images=[image], texts=TEXTS[:1]), max_new_tokens=6, do_sample=False),
        model.generate(**processor(images=[None], texts=TEXTS[1:]), max_new_tokens=6, do_sample=False),
    ]
    assert together.tolist() == [alone[0][0].tolist(), alone[1][0].tolist()]
    answers = processor.batch_decode(together)
    assert answers == [text.strip() for text in processor.tokenizer.batch_decode(together, skip_special_tokens=True)]


def test_hd_checkpoint_gives_five_views_at_the_clip_crop_size(tmp_path: Path) -> None:
    path = build_tiny_checkpoint(tmp_path / "MGM-tiny-HD", llm="gemma", hd=True, seed=0)
    processor = MGMProcessor.from_pretrained(path)
    assert processor.template.name == "gemma" and processor.tokenizer_flavour == "fast"
    batch = processor(images=[Image.new("RGB", (50, 20), (0, 90, 255))], texts=["Read the sign."])
    raw, aux = processor.image_processor.image_size_raw, processor.image_processor.image_size_aux
    assert batch["images"].shape == (1, 5, 3, raw, raw) and batch["images_aux"].shape == (1, 3, aux, aux)
