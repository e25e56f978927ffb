"""<GEN> trigger, <h>...</h> extraction (CLI and gradio variants) and the SDXL hand-off (tiny random pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mg_model.conversation import MGMInputError
from mg_model.generation_image import (
    NEGATIVE_PROMPT,
    ImageGenerator,
    add_gen_trigger,
    display_text,
    extract_image_prompt,
)
from mg_model.processing_mgm import TINY_TOKENIZER_DIR


def test_gen_trigger_is_plain_text_appended_to_the_user_message() -> None:
    assert add_gen_trigger("Draw a cat.") == "Draw a cat. <GEN>"


def test_last_span_like_the_cli_first_span_like_gradio() -> None:
    answer = "Sure. <h>a red fox</h> Or maybe <h>a blue whale</h>."
    assert extract_image_prompt(answer) == "a blue whale"
    assert extract_image_prompt(answer, which="first") == "a red fox"
    assert display_text(answer) == "Sure. \nPrompt: a red fox\n"


def test_no_complete_span_gives_none() -> None:
    assert extract_image_prompt("no prompt here") is None
    assert extract_image_prompt("open <h>never closed") is None
    assert extract_image_prompt("closed </h> then <h>open", which="first") == "open"  # as the worker's split
    assert display_text("plain answer") == "plain answer"
    with pytest.raises(MGMInputError, match="which"):
        extract_image_prompt("<h>x</h>", which="middle")


def test_negative_prompt_is_the_official_one() -> None:
    spec_text = (  # NEG of dvlab-research/MGM mgm/serve/cli.py (docs/official_code.md#reasoning-generation)
        "out of frame, lowres, text, error, cropped, worst quality, low quality, jpeg artifacts, ugly, duplicate, "
        "morbid, mutilated, out of frame, extra fingers, mutated hands, poorly drawn hands, poorly drawn face, "
        "mutation, deformed, blurry, dehydrated, bad anatomy, bad proportions, extra limbs, cloned face, "
        "disfigured, gross proportions, malformed limbs, missing arms, missing legs, extra arms, extra legs, "
        "fused fingers, too many fingers, long neck, username, watermark, signature"
    )
    assert NEGATIVE_PROMPT == spec_text


def build_tiny_sdxl(path: Path) -> None:
    """Save a random-weight StableDiffusionXLPipeline with tiny components (offline, ~1 MB)."""
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    text_config = CLIPTextConfig(
        vocab_size=808, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=32, projection_dim=16, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=4, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=4, projection_class_embeddings_input_dim=6 * 4 + 16,
        transformer_layers_per_block=1,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8), norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, sample_size=16,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(TINY_TOKENIZER_DIR))
    tokenizer.pad_token = tokenizer.unk_token
    tokenizer.model_max_length = 16
    pipeline = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(text_config), text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=EulerDiscreteScheduler(),
    )
    pipeline.save_pretrained(str(path))


@pytest.fixture(scope="module")
def tiny_sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny_sdxl")
    build_tiny_sdxl(path)
    return path


def test_sdxl_hand_off_with_a_tiny_random_pipeline(tiny_sdxl_dir: Path) -> None:
    generator = ImageGenerator.from_pretrained(tiny_sdxl_dir)
    calls: list[dict] = []
    original = generator.pipeline.encode_prompt

    def recording_encode_prompt(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    generator.pipeline.encode_prompt = recording_encode_prompt
    answer = "Here you go: <h>a small red house</h>"
    prompt, image = generator.from_answer(answer, num_inference_steps=2, height=32, width=32)
    assert prompt == "a small red house"
    assert isinstance(image, Image.Image) and image.size == (32, 32)
    assert calls[0]["prompt"] == "a small red house" and calls[0]["negative_prompt"] == NEGATIVE_PROMPT
    again = generator(prompt, num_inference_steps=2, height=32, width=32, generator=torch.Generator().manual_seed(1))
    same = generator(prompt, num_inference_steps=2, height=32, width=32, generator=torch.Generator().manual_seed(1))
    assert np.array_equal(np.asarray(again), np.asarray(same))


def test_sdxl_answer_without_prompt_and_bad_dirs(tiny_sdxl_dir: Path, tmp_path: Path) -> None:
    generator = ImageGenerator.from_pretrained(tiny_sdxl_dir)
    assert generator.from_answer("no image prompt") == (None, None)
    with pytest.raises(MGMInputError, match="empty image prompt"):
        generator("   ")
    with pytest.raises(MGMInputError, match="model_index.json"):
        ImageGenerator.from_pretrained(tmp_path)
