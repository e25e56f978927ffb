"""LR (CLIP) and HR (ConvNeXt) encoders: docs/official_code.md#lr-encoder-clip and #hr-encoder-convnext, drop-path opt-in, and a real-size slow check."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from timm.models.convnext import ConvNeXt

from mg_model import build_tiny_model
from mg_model.vision import CLIPLREncoder, ConvNeXtHREncoder

TINY_CLIP = {
    "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
    "image_size": 56, "patch_size": 14,
}


def test_clip_features_are_penultimate_layer_without_cls_and_without_post_layernorm() -> None:
    torch.manual_seed(0)
    encoder = CLIPLREncoder(TINY_CLIP).eval()
    with torch.no_grad():
        encoder.vision_tower.vision_model.post_layernorm.weight.fill_(3.0)  # must not matter
    truncated = copy.deepcopy(encoder.vision_tower.vision_model)
    truncated.encoder.layers = truncated.encoder.layers[:-1]  # drop the last of 3 layers
    pixels = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        features = encoder(pixels)
        expected = truncated(pixels).last_hidden_state[:, 1:]  # encoder output, before post_layernorm
    assert features.shape == (2, 16, 32)
    torch.testing.assert_close(features, expected)


def _timm_trunk_like(encoder: ConvNeXtHREncoder, dims: tuple, depths: tuple) -> ConvNeXt:
    trunk = ConvNeXt(num_classes=0, global_pool="", depths=depths, dims=dims, drop_path_rate=0.0).eval()
    own = {("stem." + k[len("vision_stem."):] if k.startswith("vision_stem.") else "stages." + k[len("vision_stages."):]): v
           for k, v in encoder.state_dict().items()}
    trunk.load_state_dict(own, strict=False)
    return trunk


def test_convnext_features_are_raw_stage_outputs_upsampled_and_concatenated() -> None:
    dims, depths = (8, 16, 32, 64), (1, 1, 2, 1)
    torch.manual_seed(0)
    encoder = ConvNeXtHREncoder(dims, depths).eval()
    trunk = _timm_trunk_like(encoder, dims, depths)
    pixels = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        got = encoder(pixels)
        stages = trunk.forward_intermediates(pixels, indices=4, norm=False, intermediates_only=True)
    assert [s.shape[-1] for s in stages] == [32, 16, 8, 4]
    want = torch.cat([stages[0]] + [F.interpolate(s, size=(32, 32), mode="bilinear") for s in stages[1:]], dim=1)
    assert got.shape == (1, 120, 32, 32)
    torch.testing.assert_close(got, want)


def test_eval_mode_is_deterministic_and_drop_path_opt_in_is_stochastic() -> None:
    images, images_aux = torch.randn(1, 3, 56, 56), torch.randn(1, 3, 128, 128)
    plain = build_tiny_model(seed=2)
    official = build_tiny_model(seed=2, hr_drop_path_at_inference=True, hr_drop_path_rate=0.5)
    assert not plain.training and not official.training
    with torch.no_grad():
        first, second = plain.encode_images(images, images_aux), plain.encode_images(images, images_aux)
        torch.manual_seed(0)
        noisy_a = official.encode_images(images, images_aux)
        noisy_b = official.encode_images(images, images_aux)
    torch.testing.assert_close(first, second)
    assert not torch.allclose(noisy_a, noisy_b)  # DropPath active: per-call randomness
    assert official.config.hr_drop_path_at_inference is True
    off = build_tiny_model(seed=2, hr_drop_path_rate=0.5)  # same rate, opt-in off: equals eval numerics
    with torch.no_grad():
        torch.testing.assert_close(off.encode_images(images, images_aux), off.encode_images(images, images_aux))


@pytest.mark.slow
def test_real_size_encoders_match_open_clip_trunk_and_are_deterministic() -> None:
    """CLIP-L/336 + ConvNeXt-L (open_clip convnext_large_d_320 trunk) at real sizes, small LLM."""
    import open_clip

    torch.manual_seed(0)
    hr = ConvNeXtHREncoder((192, 384, 768, 1536), (3, 3, 27, 3)).eval()
    visual = open_clip.create_model("convnext_large_d_320", pretrained=None).visual
    trunk_keys = {k[len("trunk."):]: v for k, v in visual.state_dict().items() if k.startswith("trunk.")}
    ours = {("stem." + k[len("vision_stem."):] if k.startswith("vision_stem.") else "stages." + k[len("vision_stages."):]): v
            for k, v in hr.state_dict().items()}
    stem_stage_keys = {k: v.shape for k, v in trunk_keys.items() if k.startswith(("stem.", "stages."))}
    assert {k: v.shape for k, v in ours.items()} == stem_stage_keys
    visual.trunk.load_state_dict(ours, strict=False)
    visual.eval()
    pixels = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        x = visual.trunk.stem(pixels)
        stages = []
        for stage in visual.trunk.stages:
            x = stage(x)
            stages.append(x)
        want = torch.cat([stages[0]] + [F.interpolate(s, size=(16, 16), mode="bilinear") for s in stages[1:]], 1)
        torch.testing.assert_close(hr(pixels), want)
    del visual
    from mg_model import variant_config
    from mg_model.modeling_mgm import MGMForCausalLM

    config = variant_config("tiny", mm_vision_config=None, mm_hidden_size=1024, hr_convnext_dims=None,
                            hr_convnext_depths=None, mm_hidden_size_aux=2880, image_size_aux=768)
    model = MGMForCausalLM(config).eval()
    images, images_aux = torch.randn(1, 3, 336, 336), torch.randn(1, 3, 768, 768)
    with torch.no_grad():
        first = model.encode_images(images, images_aux)
        second = model.encode_images(images, images_aux)
    assert first.shape == (1, 576, 64)
    torch.testing.assert_close(first, second)
