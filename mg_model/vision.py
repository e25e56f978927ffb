"""The two vision encoders of Mini-Gemini (docs/official_code.md#lr-encoder-clip, #hr-encoder-convnext).

* :class:`CLIPLREncoder` — transformers ``CLIPVisionModel``; features are the penultimate hidden state with
  the CLS token dropped (no post-LayerNorm): ``[B, N, C_L]``, N = (image_size / patch_size)².
* :class:`ConvNeXtHREncoder` — the open_clip ``convnext_large_d_320`` trunk (a timm ConvNeXt), stem + 4
  stages only; the raw stage outputs are upsampled in fp32 (bilinear, align_corners=False) to stride 4 and
  concatenated: ``[B, sum(dims), S/4, S/4]`` (2880 channels for ConvNeXt-L).

State-dict names follow the official checkpoint: ``vision_tower.vision_model.*`` for CLIP (the official
wrapper adds one more ``vision_tower.`` level, see :mod:`mg_model.modeling_mgm`), ``vision_stem.*`` and
``vision_stages.*`` for ConvNeXt.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath
from timm.models.convnext import ConvNeXt
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel


class CLIPLREncoder(nn.Module):
    """Low-resolution CLIP ViT encoder (frozen in every released model).

    Args:
        vision_config: ``CLIPVisionConfig`` keyword values (CLIP ViT-L/14-336 for released models).
        select_layer: hidden-state index to read (-2 = penultimate encoder layer).
        select_feature: ``"patch"`` drops the CLS token, ``"cls_patch"`` keeps it.
    """

    def __init__(self, vision_config: dict, select_layer: int = -2, select_feature: str = "patch") -> None:
        super().__init__()
        config = CLIPVisionConfig(**vision_config)
        config._attn_implementation = "eager"  # transformers 4.36 CLIP (the official pin) had eager attention only
        # Official key names are ``vision_tower.vision_model.*`` (transformers 4 CLIPVisionModel layout);
        # the holder module reproduces that level around the transformers 5 model.
        self.vision_tower = nn.Module()
        self.vision_tower.vision_model = CLIPVisionModel(config)
        self.select_layer = select_layer
        self.select_feature = select_feature

    @property
    def num_patches(self) -> int:
        """Tokens per view: (image_size / patch_size)²."""
        config = self.vision_tower.vision_model.config
        return (config.image_size // config.patch_size) ** 2

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Encode ``pixels`` [B, 3, H, W] into features [B, N, C_L] in the input's dtype."""
        weight_dtype = self.vision_tower.vision_model.embeddings.patch_embedding.weight.dtype
        outputs = self.vision_tower.vision_model(pixels.to(weight_dtype), output_hidden_states=True)
        features = outputs.hidden_states[self.select_layer]
        if self.select_feature == "patch":
            features = features[:, 1:]
        return features.to(pixels.dtype)


class ConvNeXtHREncoder(nn.Module):
    """High-resolution ConvNeXt encoder: stem + 4 stages, multi-stage features concatenated at stride 4.

    Args:
        dims: stage widths ((192, 384, 768, 1536) for ConvNeXt-L).
        depths: blocks per stage ((3, 3, 27, 3) for ConvNeXt-L).
        drop_path_rate: maximum stochastic-depth rate (timm spacing from 0 to this value); 0.1 officially.
        drop_path_at_inference: keep DropPath active in eval mode (the official behaviour, docs/official_code.md#convnext-drop-path-at-inference).
    """

    def __init__(
        self,
        dims: Sequence[int],
        depths: Sequence[int],
        drop_path_rate: float = 0.1,
        drop_path_at_inference: bool = False,
    ) -> None:
        super().__init__()
        trunk = ConvNeXt(
            in_chans=3,
            num_classes=0,
            global_pool="",
            depths=tuple(depths),
            dims=tuple(dims),
            ls_init_value=1e-6,
            drop_path_rate=drop_path_rate,
        )
        self.vision_stem = trunk.stem
        self.vision_stages = trunk.stages
        self.drop_path_at_inference = drop_path_at_inference
        self.hidden_size = int(sum(dims))

    def train(self, mode: bool = True) -> ConvNeXtHREncoder:
        """Set train/eval mode; with ``drop_path_at_inference`` DropPath modules always stay in train mode."""
        super().train(mode)
        if self.drop_path_at_inference:
            for module in self.modules():
                if isinstance(module, DropPath):
                    module.training = True
        return self

    def stage_outputs(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """The four stage maps of ``pixels`` [B, 3, S, S]: [B, dims[i], S/2^(i+2), S/2^(i+2)] in the weights' dtype."""
        x = self.vision_stem(pixels.to(self.vision_stem[0].weight.dtype))
        outputs = []
        for stage in self.vision_stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Encode ``pixels`` [B, 3, S, S] into the concatenated map [B, sum(dims), S/4, S/4] (input dtype)."""
        stage_outputs = self.stage_outputs(pixels)
        target_size = stage_outputs[0].shape[-2:]
        upsampled = [stage_outputs[0]] + [
            F.interpolate(feature.float(), size=target_size, mode="bilinear", align_corners=False).to(feature.dtype)
            for feature in stage_outputs[1:]
        ]
        return torch.cat(upsampled, dim=1).to(pixels.dtype)
