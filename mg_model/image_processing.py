"""The official MGM image preprocessing (docs/official_code.md#image-preprocessing): ``MGMImageProcessor``.

Pad to a square with the CLIP mean colour (122, 116, 104), PIL bicubic resize to the HR side S
(``image_size_aux``), rescale 1/255, CLIP mean/std normalisation (float32), then the LR input is a bilinear
(no antialias) down-sample of that *normalised* HR tensor to 336·g; HD checkpoints (g = 2) split it into
row-major 336 crops and append a global view last. Bit-exact against the official pipeline on
transformers 4.36 (``tests/data/processing_image_goldens.npz``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint.dirs import read_checkpoint_config, read_json_file, require_encoder_dir
from .constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from .errors import MGMInputError


@dataclass(frozen=True)
class MGMImageProcessor:
    """The official MGM image preprocessing (docs/official_code.md#image-preprocessing), vectorised over the batch after the PIL steps.

    Attributes:
        image_size_aux: HR side S (768 non-HD, 1536 HD); the whole pipeline runs at this size.
        image_size_raw: the CLIP crop side (336), i.e. one LR view.
        image_grid: LR tiles per side g (1 non-HD, 2 HD); the LR canvas is ``image_size_raw * g``.
        image_global: append a global LR view (HD).
        image_aspect_ratio: ``pad`` (all released models) or ``square`` (shortest-edge resize + centre crop).
        image_mean, image_std: CLIP normalisation.
        rescale_factor: pixel scale (1/255).
    """

    image_size_aux: int = 768
    image_size_raw: int = 336
    image_grid: int = 1
    image_global: bool = False
    image_aspect_ratio: str = "pad"
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255

    def __post_init__(self) -> None:
        if self.image_aspect_ratio not in ("pad", "square"):
            raise MGMInputError(
                f"image_aspect_ratio={self.image_aspect_ratio!r} is not supported; use 'pad' (released models) "
                "or 'square'"
            )
        if self.image_grid < 1 or (self.image_global and self.image_grid < 2):
            raise MGMInputError(
                f"image_grid={self.image_grid}, image_global={self.image_global}: need image_grid >= 1, and "
                "image_global only with image_grid >= 2"
            )

    @classmethod
    def from_configs(cls, config: dict[str, Any], clip_preprocessor: dict[str, Any]) -> MGMImageProcessor:
        """Build from a checkpoint config dict and the CLIP dir's ``preprocessor_config.json`` dict."""
        crop = clip_preprocessor.get("crop_size", 336)
        crop_side = int(crop["height"] if isinstance(crop, dict) else crop)
        return cls(
            image_size_aux=int(config.get("image_size_aux", 320)),
            image_size_raw=crop_side,
            image_grid=int(config.get("image_grid", 1) or 1),
            image_global=bool(config.get("image_global", False)),
            # The official process_images pads only for exactly "pad"; any other value takes the plain path.
            image_aspect_ratio="pad" if config.get("image_aspect_ratio") == "pad" else "square",
            image_mean=tuple(float(m) for m in clip_preprocessor.get("image_mean", OPENAI_CLIP_MEAN)),
            image_std=tuple(float(s) for s in clip_preprocessor.get("image_std", OPENAI_CLIP_STD)),
            rescale_factor=float(clip_preprocessor.get("rescale_factor", 1 / 255)),
        )

    @classmethod
    def from_pretrained(
        cls, checkpoint_dir: str | Path, encoder_root: str | Path | None = None
    ) -> MGMImageProcessor:
        """Read ``config.json`` of the checkpoint and ``preprocessor_config.json`` of its CLIP directory."""
        config = read_checkpoint_config(checkpoint_dir)
        clip_dir = require_encoder_dir(config.get("mm_vision_tower"), checkpoint_dir, encoder_root, "mm_vision_tower")
        clip_preprocessor = read_json_file(
            clip_dir / "preprocessor_config.json", "the CLIP encoder directory must hold it (official layout)"
        )
        return cls.from_configs(config, clip_preprocessor)

    @property
    def pad_color(self) -> tuple[int, int, int]:
        """Background of the square canvas: ``int(mean * 255)`` per channel, (122, 116, 104) for CLIP."""
        return tuple(int(m * 255) for m in self.image_mean)

    @property
    def lr_side(self) -> int:
        """Side of the LR canvas, ``image_size_raw * image_grid`` (336 or 672)."""
        return self.image_size_raw * self.image_grid

    @property
    def num_views(self) -> int:
        """LR views per image: 1 (non-HD) or g*g (+1 with the global view)."""
        return self.image_grid**2 + int(self.image_global)

    def expand_to_square(self, image: Image.Image) -> Image.Image:
        """Paste ``image`` (RGB) centred on a square canvas of the pad colour (official ``expand2square``)."""
        width, height = image.size
        if width == height:
            return image
        side = max(width, height)
        canvas = Image.new(image.mode, (side, side), self.pad_color)
        canvas.paste(image, (0, (width - height) // 2) if width > height else ((height - width) // 2, 0))
        return canvas

    def resize_to_hr(self, image: Image.Image) -> np.ndarray:
        """Shortest-edge PIL bicubic resize to S and centre crop S (CLIPImageProcessor); uint8 [S, S, 3]."""
        side = self.image_size_aux
        width, height = image.size
        short, long = sorted((width, height))
        new_long = int(side * long / short)
        size = (side, new_long) if width <= height else (new_long, side)
        resized = image.resize(size, resample=Image.BICUBIC)
        array = np.asarray(resized, dtype=np.uint8)
        top, left = (array.shape[0] - side) // 2, (array.shape[1] - side) // 2
        return array[top : top + side, left : left + side]

    def normalize(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 [B, S, S, 3] -> float32 [B, 3, S, S]: ``(x * rescale - mean) / std`` in float32 (as 4.36)."""
        scaled = (pixels.astype(np.float64) * self.rescale_factor).astype(np.float32)
        mean = np.asarray(self.image_mean, dtype=np.float32)
        std = np.asarray(self.image_std, dtype=np.float32)
        normalized = (scaled - mean) / std
        return torch.from_numpy(np.ascontiguousarray(normalized.transpose(0, 3, 1, 2)))

    def hr_pixels(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The HR tensor ``images_aux``: float32 [B, 3, S, S], S = ``image_size_aux``."""
        arrays = []
        for image in images:
            rgb = image.convert("RGB")
            if self.image_aspect_ratio == "pad":
                rgb = self.expand_to_square(rgb)
            arrays.append(self.resize_to_hr(rgb))
        return self.normalize(np.stack(arrays))

    def lr_views(self, hr: torch.Tensor) -> torch.Tensor:
        """LR views from the normalised HR tensor [B, 3, S, S].

        Returns:
            [B, 3, r, r] for g = 1, else [B, V, 3, r, r] with V = g*g (+1): row-major crops, global view last.
            r = ``image_size_raw``. Bilinear, ``align_corners=False``, no antialias, float32.
        """
        lr = F.interpolate(hr.float(), size=[self.lr_side, self.lr_side], mode="bilinear", align_corners=False)
        if self.image_grid == 1:
            return lr
        batch, g, r = lr.shape[0], self.image_grid, self.image_size_raw
        crops = lr.reshape(batch, 3, g, r, g, r).permute(0, 2, 4, 1, 3, 5).reshape(batch, g * g, 3, r, r)
        if not self.image_global:
            return crops
        global_view = F.interpolate(lr, size=[r, r], mode="bilinear", align_corners=False)
        return torch.cat([crops, global_view[:, None]], dim=1)

    def __call__(self, images: Sequence[Image.Image]) -> dict[str, torch.Tensor]:
        """Preprocess a batch of PIL images.

        Returns:
            ``images``: [B, 3, r, r] (non-HD) or [B, V, 3, r, r] (HD); ``images_aux``: [B, 3, S, S]; float32.
        """
        if len(images) == 0:
            raise MGMInputError("no images to preprocess")
        for index, image in enumerate(images):
            if not isinstance(image, Image.Image):
                raise MGMInputError(f"images[{index}] is a {type(image).__name__}, expected a PIL.Image.Image")
        hr = self.hr_pixels(images)
        return {"images": self.lr_views(hr), "images_aux": hr}

    def blank(self, batch: int) -> dict[str, torch.Tensor]:
        """Zero tensors of the shapes ``__call__`` returns (text-only samples in a mixed batch, as training)."""
        r, s = self.image_size_raw, self.image_size_aux
        lr_shape = (batch, 3, r, r) if self.image_grid == 1 else (batch, self.num_views, 3, r, r)
        return {"images": torch.zeros(lr_shape), "images_aux": torch.zeros(batch, 3, s, s)}
