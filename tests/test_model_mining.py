"""Patch info mining and HD token extension against a plain re-derivation of docs/official_code.md#patch-info-mining and #hd-token-extension."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mg_model import build_tiny_model
from mg_model.mining import (
    build_mining_projectors,
    extend_and_mine,
    group_hr_candidates,
    mine_patch_info,
    split_hr_tiles,
    split_lr_views,
)


def _projectors(lr_dim: int, hr_dim: int, seed: int = 0) -> tuple[nn.Module, nn.Module, nn.Module]:
    torch.manual_seed(seed)
    modules = build_mining_projectors(lr_dim, hr_dim)
    for module in modules.values():
        with torch.no_grad():
            module[0].weight.add_(0.2 * torch.randn_like(module[0].weight))
            module[0].bias.add_(0.2 * torch.randn_like(module[0].bias))
    return (
        modules["vlm_uni_query_projector"],
        modules["vlm_uni_aux_projector"],
        modules["vlm_uni_val_projector"],
    )


def reference_mining(x_l: torch.Tensor, x_h: torch.Tensor, projectors: tuple) -> torch.Tensor:
    """docs/official_code.md#patch-info-mining token by token: query n = (r, c) attends over HR rows p·r.., cols p·c.. (row-major)."""
    query_proj, key_proj, value_proj = projectors
    batch, num_tokens, width = x_l.shape
    side = math.isqrt(num_tokens)
    cell = x_h.shape[-1] // side
    out = torch.zeros(batch, num_tokens, width)
    for b in range(batch):
        for r in range(side):
            for c in range(side):
                region = x_h[b, :, cell * r : cell * (r + 1), cell * c : cell * (c + 1)]  # [C_H, p, p]
                candidates = region.reshape(region.shape[0], -1).T  # [p², C_H], row-major
                q = query_proj(x_l[b, r * side + c])  # [C_L]
                k = key_proj(candidates)  # [p², C_L]
                v = value_proj(candidates)
                scores = (k @ q) / math.sqrt(k.shape[-1])
                out[b, r * side + c] = torch.softmax(torch.nan_to_num(scores), dim=0) @ v
    return out


@pytest.mark.parametrize(("side", "cell"), [(2, 3), (4, 8), (3, 2)])
def test_mining_matches_token_by_token_reference(side: int, cell: int) -> None:
    torch.manual_seed(1)
    projectors = _projectors(12, 20)
    x_l = torch.randn(2, side * side, 12)
    x_h = torch.randn(2, 20, side * cell, side * cell)
    with torch.no_grad():
        got = mine_patch_info(x_l, x_h, *projectors)
        want = reference_mining(x_l, x_h, projectors)
    assert got.shape == (2, side * side, 12)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_candidates_are_the_tokens_own_region_in_row_major_order() -> None:
    side, cell = 3, 2
    hr = torch.arange(side * cell * side * cell, dtype=torch.float32).reshape(1, 1, side * cell, side * cell)
    grouped = group_hr_candidates(hr, side)  # [1, 9, 4, 1]
    # token 5 = (row 1, col 2): HR rows 2..3, cols 4..5
    assert grouped[0, 5, :, 0].tolist() == [hr[0, 0, 2, 4], hr[0, 0, 2, 5], hr[0, 0, 3, 4], hr[0, 0, 3, 5]]


def test_infinite_scores_become_finite_instead_of_nan() -> None:
    projectors = _projectors(4, 6)
    with torch.no_grad():
        projectors[0][1].weight.fill_(1e30)
        projectors[1][1].weight.fill_(1e30)
    x_l, x_h = torch.randn(1, 4, 4), torch.randn(1, 6, 4, 4)
    with torch.no_grad():
        mined = mine_patch_info(x_l, x_h, *projectors)
    assert torch.isfinite(mined).all()


def test_hd_token_order_is_global_first_then_crops_row_major() -> None:
    batch, grid, tokens, width = 2, 2, 4, 3
    views = torch.zeros(batch * grid * grid + batch, tokens, width)
    for b in range(batch):
        for crop in range(grid * grid):
            views[b * grid * grid + crop] = 10 * b + crop  # crop (i, j) of sample b -> 10b + 2i + j
        views[batch * grid * grid + b] = 10 * b + 9  # global view of sample b -> 10b + 9
    tokens_out = extend_and_mine(views, None, batch, grid, True, _projectors(width, 5))
    assert tokens_out.shape == (batch, 5 * tokens, width)
    for b in range(batch):
        order = tokens_out[b, ::tokens, 0].tolist()
        assert order == [10 * b + 9, 10 * b + 0, 10 * b + 1, 10 * b + 2, 10 * b + 3]


def test_hd_views_mine_their_own_tile_and_the_pooled_global_map() -> None:
    batch, grid, side, cell, lr_dim, hr_dim = 1, 2, 2, 4, 6, 5
    projectors = _projectors(lr_dim, hr_dim, seed=3)
    torch.manual_seed(4)
    views = torch.randn(batch * grid * grid + batch, side * side, lr_dim)
    hr = torch.randn(batch, hr_dim, grid * side * cell, grid * side * cell)
    with torch.no_grad():
        got = extend_and_mine(views, hr, batch, grid, True, projectors)
        pooled = F.avg_pool2d(hr, 2)  # bilinear ×0.5 without antialias = exact 2×2 average
        expected = [views[4] + reference_mining(views[4:5], pooled, projectors)[0]]
        tile = side * cell
        for i in range(grid):
            for j in range(grid):
                region = hr[:, :, tile * i : tile * (i + 1), tile * j : tile * (j + 1)]
                crop = views[i * grid + j]
                expected.append(crop + reference_mining(crop[None], region, projectors)[0])
    torch.testing.assert_close(got[0], torch.cat(expected), rtol=1e-5, atol=1e-5)


def test_tiles_and_lr_views_are_row_major() -> None:
    hr = torch.arange(16.0).reshape(1, 1, 4, 4)
    tiles = split_hr_tiles(hr, 2)
    assert tiles[1, 0].tolist() == [[2.0, 3.0], [6.0, 7.0]]  # tile (0, 1)
    assert tiles[2, 0].tolist() == [[8.0, 9.0], [12.0, 13.0]]  # tile (1, 0)
    images = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1, 1, 1).expand(2, 5, 3, 2, 2)
    flat = split_lr_views(images, 2, True)
    assert flat[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 4, 9]  # crops of all samples, then globals


@pytest.mark.parametrize("hd", [False, True])
def test_visual_token_shapes_for_grid_1_and_hd(hd: bool) -> None:
    model = build_tiny_model(hd=hd)
    images = torch.randn(2, 5, 3, 56, 56) if hd else torch.randn(2, 3, 56, 56)
    images_aux = torch.randn(2, 3, 256 if hd else 128, 256 if hd else 128)
    with torch.no_grad():
        tokens = model.encode_images(images, images_aux)
        without_mining = model.encode_images(images, images_aux, use_mining=False)
    assert tokens.shape == (2, 80 if hd else 16, 64)
    assert without_mining.shape == tokens.shape
    assert not torch.allclose(tokens, without_mining)  # the HR branch contributes


def test_mining_rejects_maps_that_do_not_split_per_token() -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        group_hr_candidates(torch.zeros(1, 2, 10, 10), 3)
