"""Patch info mining and HD visual-token extension (docs/official_code.md#patch-info-mining, #hd-token-extension), vectorised.

Every LR token (a P×P raster of N = P² tokens) attends, with one head, over the p×p HR cells of its own
region of the stride-4 HR map (side h = P·p); the result is added to the raw CLIP feature. In HD mode
(``image_grid`` g ≥ 2, ``image_global``) the HR map of the whole image is split into g×g row-major tiles
(one per LR crop) and a bilinear g×-downsampled copy serves the global view; the token order is
``[global, crop(0,0), crop(0,1), ..., crop(g-1,g-1)]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def build_mining_projectors(lr_dim: int, hr_dim: int) -> dict[str, nn.Sequential]:
    """The three official mining projections: LayerNorm + Linear each (docs/official_code.md#module-tree-and-state-dict-names).

    Returns a dict with ``vlm_uni_query_projector`` (LN(C_L), C_L→C_L), ``vlm_uni_aux_projector``
    (LN(C_H), C_H→C_L, keys) and ``vlm_uni_val_projector`` (LN(C_H), C_H→C_L, values).
    """
    return {
        "vlm_uni_query_projector": nn.Sequential(nn.LayerNorm(lr_dim), nn.Linear(lr_dim, lr_dim)),
        "vlm_uni_aux_projector": nn.Sequential(nn.LayerNorm(hr_dim), nn.Linear(hr_dim, lr_dim)),
        "vlm_uni_val_projector": nn.Sequential(nn.LayerNorm(hr_dim), nn.Linear(hr_dim, lr_dim)),
    }


def group_hr_candidates(hr_map: torch.Tensor, lr_side: int) -> torch.Tensor:
    """Regroup an HR map into per-LR-token candidate sets.

    Args:
        hr_map: [B, C_H, h, w] with h = w = lr_side · p.
        lr_side: P, the LR token grid side (N = P²).

    Returns:
        [B, N, p², C_H]: token n = (row r, col c) in raster order gets HR rows p·r..p·r+p-1 and columns
        p·c..p·c+p-1, inner order row-major.
    """
    batch, channels, height, width = hr_map.shape
    if height != width or height % lr_side != 0:
        raise ValueError(
            f"HR map of side {height}x{width} cannot be split into {lr_side}x{lr_side} equal regions; "
            "image_size_aux / 4 must be a multiple of the LR token side"
        )
    cell = height // lr_side
    grouped = hr_map.permute(0, 2, 3, 1).reshape(batch, lr_side, cell, lr_side, cell, channels)
    grouped = grouped.permute(0, 1, 3, 2, 4, 5)
    return grouped.reshape(batch, lr_side * lr_side, cell * cell, channels)


def mine_patch_info(
    lr_features: torch.Tensor,
    hr_map: torch.Tensor,
    query_projector: nn.Module,
    key_projector: nn.Module,
    value_projector: nn.Module,
) -> torch.Tensor:
    """Patch info mining for one view per batch entry (docs/official_code.md#patch-info-mining).

    Args:
        lr_features: X_L [B, N, C_L], N = P² tokens in raster order.
        hr_map: X_H [B, C_H, P·p, P·p].
        query_projector / key_projector / value_projector: LN+Linear modules to C_L.

    Returns:
        The mined features m [B, N, C_L] (the caller adds them to ``lr_features``).
    """
    lr_side = math.isqrt(lr_features.shape[1])
    if lr_side * lr_side != lr_features.shape[1]:
        raise ValueError(f"{lr_features.shape[1]} LR tokens do not form a square grid")
    candidates = group_hr_candidates(hr_map, lr_side)  # [B, N, p², C_H]
    query = query_projector(lr_features)  # [B, N, C_L]
    key = key_projector(candidates)  # [B, N, p², C_L]
    value = value_projector(candidates)  # [B, N, p², C_L]
    scaled_key_t = key.transpose(-1, -2) / key.shape[-1] ** 0.5  # [B, N, C_L, p²]
    scores = torch.nan_to_num(query.unsqueeze(2) @ scaled_key_t)  # [B, N, 1, p²]
    mined = scores.softmax(dim=-1) @ value  # [B, N, 1, C_L]
    return mined.mean(dim=2)


def split_hr_tiles(hr_map: torch.Tensor, grid: int) -> torch.Tensor:
    """Split [B, C, g·h, g·w] into row-major tiles [B·g², C, h, w] (tile (i, j) at index b·g² + i·g + j)."""
    batch, channels, height, width = hr_map.shape
    tiles = hr_map.reshape(batch, channels, grid, height // grid, grid, width // grid)
    tiles = tiles.permute(0, 2, 4, 1, 3, 5)
    return tiles.reshape(batch * grid * grid, channels, height // grid, width // grid)


def split_lr_views(images: torch.Tensor, grid: int, use_global: bool) -> torch.Tensor:
    """Flatten the LR pixel views for one CLIP pass: crops of all samples first, then all globals.

    Args:
        images: [B, 3, s, s] (grid 1) or [B, g² (+1 global, last), 3, s, s].

    Returns:
        [B·g² (+B), 3, s, s].
    """
    if grid == 1:
        return images if images.dim() == 4 else images.reshape(-1, *images.shape[-3:])
    crops = images[:, : grid * grid].reshape(-1, *images.shape[-3:])
    if not use_global:
        return crops
    return torch.cat([crops, images[:, -1]], dim=0)


def extend_and_mine(
    lr_features: torch.Tensor,
    hr_map: torch.Tensor | None,
    batch: int,
    grid: int,
    use_global: bool,
    projectors: tuple[nn.Module, nn.Module, nn.Module],
) -> torch.Tensor:
    """Mine every view and assemble the visual tokens in the official order (docs/official_code.md#patch-info-mining, #hd-token-extension).

    Args:
        lr_features: CLIP features of :func:`split_lr_views`'s output, [B·g² (+B), N, C_L].
        hr_map: ConvNeXt map of the whole image [B, C_H, g·P·p, g·P·p], or None (mining off).
        batch: B.
        grid: g (``image_grid``).
        use_global: ``image_global``.
        projectors: (query, key, value) mining projections.

    Returns:
        [B, T, C_L] with T = N·(g² + global), global view first, then crops row-major; each entry is
        ``X_L + mined`` (or ``X_L`` when ``hr_map`` is None).
    """
    num_crops = batch * grid * grid
    crop_features = lr_features[:num_crops]
    global_features = lr_features[num_crops:] if use_global else None
    if hr_map is not None:
        crop_maps = split_hr_tiles(hr_map, grid) if grid > 1 else hr_map
        crop_features = crop_features + mine_patch_info(crop_features, crop_maps, *projectors)
        if global_features is not None:
            target = hr_map.shape[-1] // grid
            global_map = F.interpolate(hr_map.float(), size=(target, target), mode="bilinear", align_corners=False)
            global_map = global_map.to(hr_map.dtype)
            global_features = global_features + mine_patch_info(global_features, global_map, *projectors)
    tokens = crop_features.reshape(batch, grid * grid * crop_features.shape[1], crop_features.shape[2])
    if global_features is not None:
        tokens = torch.cat([global_features, tokens], dim=1)
    return tokens
