"""The memory-bounded HR path (mg_model/generation/vision_chunks.py) against the unchunked one (mining.py / vision.py)."""

from __future__ import annotations

import pytest
import torch

from mg_model import build_tiny_model
from mg_model.generation.vision_chunks import (
    encode_hr_and_mine,
    hr_fusion_map,
    images_per_chunk,
    rows_per_chunk,
)
from mg_model.mining import extend_and_mine, split_lr_views


def _inputs(model, batch: int, hd: bool, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    side = int(model.config.image_size_aux)
    shape = (batch, 5, 3, 56, 56) if hd else (batch, 3, 56, 56)
    return torch.randn(*shape, generator=generator), torch.randn(batch, 3, side, side, generator=generator)


def test_fusion_map_equals_the_encoder_forward_bit_for_bit() -> None:
    model = build_tiny_model(seed=2)
    _, images_aux = _inputs(model, 3, hd=False)
    with torch.no_grad():
        want = model.model.vision_tower_aux(images_aux)
        got = hr_fusion_map(model.model.vision_tower_aux, images_aux, torch.float32)
    assert torch.equal(got, want)


@pytest.mark.parametrize("hd", [False, True])
@pytest.mark.parametrize("budget", [1, 1 << 40])  # 1 byte: one image and one token row per chunk
def test_chunked_hr_path_equals_the_batched_path(hd: bool, budget: int) -> None:
    model = build_tiny_model(hd=hd, seed=4)
    config = model.config
    grid, use_global = int(config.image_grid), bool(config.image_global)
    images, images_aux = _inputs(model, 3, hd)
    with torch.no_grad():
        lr_features = model.model.vision_tower(split_lr_views(images, grid, use_global))
        hr_map = model.model.vision_tower_aux(images_aux)
        want = extend_and_mine(lr_features, hr_map, 3, grid, use_global, model.mining_projectors())
        got = encode_hr_and_mine(model.model.vision_tower_aux, lr_features, images_aux, grid, use_global,
                                 model.mining_projectors(), torch.float32, budget)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_each_image_is_encoded_independently_of_its_chunk() -> None:
    model = build_tiny_model(seed=5)
    images, images_aux = _inputs(model, 4, hd=False)
    with torch.no_grad():
        together = model.encode_images(images, images_aux)
        model.vision_chunk_bytes = 1
        alone = torch.cat([model.encode_images(images[i : i + 1], images_aux[i : i + 1]) for i in range(4)])
        del model.vision_chunk_bytes
    torch.testing.assert_close(together, alone, rtol=1e-6, atol=1e-6)


def test_chunk_sizes_follow_the_budget() -> None:
    fusion_bytes = 2880 * 192 * 192 * 4  # one LR image's fp32 fusion map: ~425 MB
    assert images_per_chunk(2880, 192, 4, 1 << 30) == 2  # 1.25 maps per image (HD global copy headroom)
    assert images_per_chunk(2880, 192, 4, 8 * fusion_bytes) == 6
    assert images_per_chunk(2880, 192, 4, 0) == 1
    assert rows_per_chunk(24, 8, 2880, 1024, 1, 4, 1 << 30) == 16  # 65.7 MB of intermediates per row
    assert rows_per_chunk(24, 8, 2880, 1024, 1, 4, 1 << 40) == 24
    assert rows_per_chunk(24, 8, 2880, 1024, 8, 4, 1) == 1
