"""The one definition of MGM's vision path: the modules it is made of and the visual tokens it computes.

Both language-model hosts use it: :class:`mg_model.modeling_mgm.MGMForCausalLM` (transformers) and
:class:`mg_model.vllm.model.MGMForConditionalGeneration` (vLLM). Each attaches the modules of
:func:`build_vision_modules` to a holder module named ``model`` (so the state-dict names are the official
``model.vision_tower.*``, ``model.vision_tower_aux.*``, ``model.mm_projector.*``, ``model.vlm_uni_*``) and
calls :func:`encode_visual_tokens` on that holder.
"""

from __future__ import annotations

import torch
from torch import nn

from .configuration_mgm import MGMConfig, projector_depth
from .generation.vision_chunks import DEFAULT_CHUNK_BYTES, encode_hr_and_mine
from .mining import build_mining_projectors, extend_and_mine, split_lr_views
from .vision import CLIPLREncoder, ConvNeXtHREncoder

#: attribute names of the vision modules on the holder (official state-dict names after ``model.``)
VISION_MODULE_NAMES = (
    "vision_tower", "vision_tower_aux", "mm_projector",
    "vlm_uni_query_projector", "vlm_uni_aux_projector", "vlm_uni_val_projector",
)


def build_projector(projector_type: str, in_dim: int, hidden_size: int) -> nn.Sequential:
    """``mm_projector``: ``linear`` or ``mlp<N>x_gelu`` = Linear, (GELU, Linear) × (N-1) (exact-erf GELU)."""
    depth = projector_depth(projector_type)
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden_size)]
    for _ in range(depth - 1):
        layers += [nn.GELU(), nn.Linear(hidden_size, hidden_size)]
    return nn.Sequential(*layers)


def build_vision_modules(config: MGMConfig, llm_hidden_size: int) -> dict[str, nn.Module]:
    """The vision modules of ``config`` keyed by :data:`VISION_MODULE_NAMES`.

    CLIP LR encoder (``vision_tower``), ConvNeXt HR encoder (``vision_tower_aux``), the projector to the LLM
    width ``llm_hidden_size`` (``mm_projector``) and the three patch-info-mining projections.
    """
    modules: dict[str, nn.Module] = {
        "vision_tower": CLIPLREncoder(
            config.clip_vision_config_dict(), config.mm_vision_select_layer, config.mm_vision_select_feature
        ),
        "vision_tower_aux": ConvNeXtHREncoder(
            config.convnext_dims,
            config.convnext_depths,
            drop_path_rate=config.hr_drop_path_rate,
            drop_path_at_inference=config.hr_drop_path_at_inference,
        ),
        "mm_projector": build_projector(config.mm_projector_type, config.mm_hidden_size, llm_hidden_size),
    }
    modules.update(build_mining_projectors(config.mm_hidden_size, config.mm_hidden_size_aux))
    return modules


def visual_tokens_per_image(holder: nn.Module, config: MGMConfig) -> int:
    """T: visual tokens that replace one image placeholder (N·(g² + global))."""
    grid = int(config.image_grid)
    return holder.vision_tower.num_patches * (grid * grid + int(bool(config.image_global) and grid > 1))


def visual_tokens_of(config: MGMConfig) -> int:
    """T from the config alone (no modules built): N CLIP tokens per view (+1 with ``cls_patch``) × (g² crops +
    global view); 576 for the released LR models, 2880 for HD."""
    vision = config.clip_vision_config_dict()
    per_view = (int(vision["image_size"]) // int(vision["patch_size"])) ** 2
    per_view += int(config.mm_vision_select_feature == "cls_patch")
    grid = int(config.image_grid)
    return per_view * (grid * grid + int(bool(config.image_global))) if grid > 1 else per_view


def encode_visual_tokens(
    holder: nn.Module,
    config: MGMConfig,
    images: torch.Tensor,
    images_aux: torch.Tensor | None,
    use_mining: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> torch.Tensor:
    """Visual tokens for a batch of images (docs/official_code.md#patch-info-mining).

    Args:
        holder: the module carrying :data:`VISION_MODULE_NAMES` as attributes.
        config: the checkpoint's MGMConfig (``image_grid``, ``image_global``, ``optimize_vision_tower*``).
        images: LR views [B, 3, s, s] (grid 1) or [B, g² (+1 global), 3, s, s] (HD), crops row-major.
        images_aux: HR image [B, 3, S, S], or None to skip the HR branch (mining off).
        use_mining: False also skips the HR branch (ablation / benchmark).
        chunk_bytes: memory budget of the chunked HR path (:mod:`mg_model.generation.vision_chunks`).

    Returns:
        [B, T, H] in the projector dtype, T = N·(g² + global), global view first.
    """
    grid, use_global = int(config.image_grid), bool(config.image_global)
    batch = images.shape[0]
    expected_views = grid * grid + int(use_global)
    if grid > 1 and (images.dim() != 5 or images.shape[1] != expected_views):
        raise ValueError(
            f"images must be [B, {expected_views}, 3, s, s] for image_grid={grid}, image_global={use_global}; "
            f"got {tuple(images.shape)}"
        )
    projector = holder.mm_projector
    dtype, device = projector[0].weight.dtype, projector[0].weight.device
    mining = (holder.vlm_uni_query_projector, holder.vlm_uni_aux_projector, holder.vlm_uni_val_projector)
    lr_views = split_lr_views(images, grid, use_global).to(dtype)
    with torch.set_grad_enabled(torch.is_grad_enabled() and bool(config.optimize_vision_tower)):
        lr_features = holder.vision_tower(lr_views).to(device=device, dtype=dtype)
    if use_mining and images_aux is not None:  # chunked over images and token rows (vision_chunks.py)
        tokens = encode_hr_and_mine(
            holder.vision_tower_aux, lr_features, images_aux.to(dtype), grid, use_global, mining, dtype,
            chunk_bytes, encoder_grad=bool(config.optimize_vision_tower_aux))
    else:
        tokens = extend_and_mine(lr_features, None, batch, grid, use_global, mining)
    return projector(tokens)
