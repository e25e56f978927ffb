"""Memory-bounded HR path: ConvNeXt + fusion + patch info mining in chunks (same math as docs/official_code.md#hr-encoder-convnext, #patch-info-mining, #hd-token-extension).

The batched HR path of :mod:`mg_model.mining` materialises, for every image of the batch at once, the
upsampled fusion map [B, 2880, S/4, S/4] (fp32: 425 MB per image at S = 768, 1.7 GB at 1536) and the
mining intermediates (candidates, two LayerNorm copies, keys and values: several times that). At batch 8
this costs more than the whole batch-1 process and runs slower than a batch-1 loop.

Here the work is cut twice, without changing any value that is computed:

* **image chunks**: the ConvNeXt pass, the fusion map and the mining run for ``images_per_chunk`` images
  at a time (each image's features only depend on that image);
* **token-row chunks**: mining runs over a few LR token rows at a time (each LR token only attends over
  its own p×p HR cells, docs/official_code.md#patch-info-mining), so the [b, rows·P, p², C_H] candidates stay small.

Chunk sizes follow a byte budget (:data:`DEFAULT_CHUNK_BYTES`, per model ``model.vision_chunk_bytes``);
outputs equal the unchunked path up to floating-point reassociation inside the matmul kernels (tested
against :func:`mg_model.mining.extend_and_mine` in tests/test_vision_chunks.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..mining import split_hr_tiles

DEFAULT_CHUNK_BYTES = 1 << 30  # 1 GiB of fusion map + mining intermediates per chunk


def images_per_chunk(hr_channels: int, hr_side: int, element_bytes: int, budget_bytes: int) -> int:
    """How many images' fusion maps ([C_H, S/4, S/4], plus the HD global copy) fit in ``budget_bytes``."""
    per_image = hr_channels * hr_side * hr_side * element_bytes * 5 // 4  # + the ≤ 1/4-size global map
    return max(1, budget_bytes // max(1, per_image))


def rows_per_chunk(lr_side: int, cell: int, hr_channels: int, lr_channels: int, views: int,
                   element_bytes: int, budget_bytes: int) -> int:
    """LR token rows mined at once so that the row chunk's intermediates fit in ``budget_bytes``.

    Per token row and view: candidates + two LayerNorm outputs (C_H each) and keys + values (C_L each)
    over P·p² cells.
    """
    per_row = lr_side * cell * cell * (3 * hr_channels + 2 * lr_channels) * element_bytes * views
    return max(1, min(lr_side, budget_bytes // max(1, per_row)))


def mine_rows(
    lr_features: torch.Tensor,
    hr_map: torch.Tensor,
    projectors: tuple[nn.Module, nn.Module, nn.Module],
    budget_bytes: int,
) -> torch.Tensor:
    """Patch info mining (docs/official_code.md#patch-info-mining) a few LR token rows at a time; same result as ``mine_patch_info``.

    Args:
        lr_features: X_L [B, N, C_L], N = P² tokens in raster order.
        hr_map: X_H [B, C_H, P·p, P·p].
        projectors: (query, key, value) LN+Linear modules to C_L.
        budget_bytes: bytes allowed for one row chunk's intermediates.

    Returns:
        The mined features m [B, N, C_L].
    """
    query_projector, key_projector, value_projector = projectors
    batch, num_tokens, lr_channels = lr_features.shape
    lr_side = math.isqrt(num_tokens)
    if lr_side * lr_side != num_tokens:
        raise ValueError(f"{num_tokens} LR tokens do not form a square grid")
    hr_channels, height, width = hr_map.shape[1:]
    if height != width or height % lr_side != 0:
        raise ValueError(
            f"HR map of side {height}x{width} cannot be split into {lr_side}x{lr_side} equal regions; "
            "image_size_aux / 4 must be a multiple of the LR token side"
        )
    cell = height // lr_side
    step = rows_per_chunk(lr_side, cell, hr_channels, lr_channels, batch, hr_map.element_size(), budget_bytes)
    query = query_projector(lr_features)  # [B, N, C_L]
    mined = []
    for row in range(0, lr_side, step):
        rows = min(step, lr_side - row)
        band = hr_map[:, :, row * cell : (row + rows) * cell]  # [B, C_H, rows·p, P·p]
        candidates = band.permute(0, 2, 3, 1).reshape(batch, rows, cell, lr_side, cell, hr_channels)
        candidates = candidates.permute(0, 1, 3, 2, 4, 5).reshape(batch, rows * lr_side, cell * cell, hr_channels)
        key = key_projector(candidates)  # [B, rows·P, p², C_L]
        value = value_projector(candidates)
        del candidates
        scaled_key_t = key.transpose(-1, -2) / key.shape[-1] ** 0.5  # [B, rows·P, C_L, p²]
        band_query = query[:, row * lr_side : (row + rows) * lr_side].unsqueeze(2)  # [B, rows·P, 1, C_L]
        scores = torch.nan_to_num(band_query @ scaled_key_t)  # [B, rows·P, 1, p²]
        mined.append((scores.softmax(dim=-1) @ value).mean(dim=2))
    return torch.cat(mined, dim=1)


def fuse_stages(stage_outputs: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """docs/official_code.md#hr-encoder-convnext steps 2-3 into one preallocated map: [B, sum(C_i), S/4, S/4] in ``dtype``.

    Each upsampled stage (bilinear, align_corners=False, in fp32, cast back to the stage dtype) is written
    into its channel slice and freed at once, so only one upsampled stage exists besides the output.
    """
    first = stage_outputs[0]
    target = first.shape[-2:]
    fused = first.new_empty(first.shape[0], sum(s.shape[1] for s in stage_outputs), *target, dtype=dtype)
    channel = 0
    for index, stage in enumerate(stage_outputs):
        width = stage.shape[1]
        if index == 0:
            fused[:, channel : channel + width] = stage
        else:
            up = F.interpolate(stage.float(), size=target, mode="bilinear", align_corners=False).to(stage.dtype)
            fused[:, channel : channel + width] = up
            del up
        channel += width
    return fused


def hr_fusion_map(encoder: nn.Module, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The ConvNeXt fusion map of ``pixels`` [b, 3, S, S]: [b, C_H, S/4, S/4] in ``dtype`` (docs/official_code.md#hr-encoder-convnext)."""
    return fuse_stages(encoder.stage_outputs(pixels), dtype)


def mine_views_chunked(
    lr_features: torch.Tensor,
    hr_map: torch.Tensor,
    grid: int,
    use_global: bool,
    projectors: tuple[nn.Module, nn.Module, nn.Module],
    budget_bytes: int,
) -> torch.Tensor:
    """``extend_and_mine`` for one image chunk, mining row by row (docs/official_code.md#patch-info-mining, #hd-token-extension).

    Args:
        lr_features: this chunk's CLIP features, crops first then globals: [b·g² (+b), N, C_L].
        hr_map: [b, C_H, g·P·p, g·P·p].

    Returns:
        [b, T, C_L], global view first, then crops row-major; each entry ``X_L + mined``.
    """
    batch = hr_map.shape[0]
    num_crops = batch * grid * grid
    crop_features = lr_features[:num_crops]
    crop_maps = split_hr_tiles(hr_map, grid) if grid > 1 else hr_map
    crop_features = crop_features + mine_rows(crop_features, crop_maps, projectors, budget_bytes)
    del crop_maps
    tokens = crop_features.reshape(batch, grid * grid * crop_features.shape[1], crop_features.shape[2])
    if use_global:
        global_features = lr_features[num_crops:]
        target = hr_map.shape[-1] // grid
        global_map = F.interpolate(hr_map.float(), size=(target, target), mode="bilinear", align_corners=False)
        global_map = global_map.to(hr_map.dtype)
        global_features = global_features + mine_rows(global_features, global_map, projectors, budget_bytes)
        tokens = torch.cat([global_features, tokens], dim=1)
    return tokens


def chunk_lr_features(lr_features: torch.Tensor, batch: int, grid: int, use_global: bool,
                      start: int, stop: int) -> torch.Tensor:
    """Images ``start:stop`` of :func:`mg_model.mining.split_lr_views`'s layout (crops first, then globals)."""
    views = grid * grid
    crops = lr_features[start * views : stop * views]
    if not use_global:
        return crops
    return torch.cat([crops, lr_features[batch * views + start : batch * views + stop]], dim=0)


def encode_hr_and_mine(
    hr_encoder: nn.Module,
    lr_features: torch.Tensor,
    images_aux: torch.Tensor,
    grid: int,
    use_global: bool,
    projectors: tuple[nn.Module, nn.Module, nn.Module],
    dtype: torch.dtype,
    budget_bytes: int = DEFAULT_CHUNK_BYTES,
    encoder_grad: bool = False,
) -> torch.Tensor:
    """ConvNeXt + fusion + mining for a batch, a few images at a time; equals ConvNeXt then ``extend_and_mine``.

    Args:
        hr_encoder: :class:`mg_model.vision.ConvNeXtHREncoder`.
        lr_features: CLIP features of the whole batch in ``split_lr_views`` order, [B·g² (+B), N, C_L],
            already in ``dtype`` on the projectors' device.
        images_aux: HR pixels [B, 3, S, S].
        dtype: the dtype of the fusion map and the mining (the projector dtype).
        budget_bytes: memory allowed for one chunk's fusion maps (and, separately, its mining rows).
        encoder_grad: track gradients through ConvNeXt (``optimize_vision_tower_aux``); the mining
            follows the caller's grad mode.

    Returns:
        [B, T, C_L] tokens before the projector.
    """
    batch, side = images_aux.shape[0], images_aux.shape[-1]
    hr_channels = int(hr_encoder.hidden_size)
    element_bytes = torch.empty((), dtype=dtype).element_size()
    step = images_per_chunk(hr_channels, side // 4, max(element_bytes, 4), budget_bytes)
    device = lr_features.device
    chunks = []
    for start in range(0, batch, step):
        stop = min(batch, start + step)
        with torch.set_grad_enabled(torch.is_grad_enabled() and encoder_grad):
            hr_map = hr_fusion_map(hr_encoder, images_aux[start:stop], dtype).to(device=device, dtype=dtype)
        chunk_features = chunk_lr_features(lr_features, batch, grid, use_global, start, stop)
        chunks.append(mine_views_chunked(chunk_features, hr_map, grid, use_global, projectors, budget_bytes))
        del hr_map
    return torch.cat(chunks, dim=0)
