"""Pretext pretraining of the tiny encoders on synthetic scenes: what CLIP / ConvNeXt pretraining is at CPU scale.

Real MGM starts from pretrained CLIP ViT-L (LR) and ConvNeXt-L (HR) whose features are linearly readable.
The tiny encoders have no pretrained weights, so this module gives them a pretext task on the synthetic
generator's images (:mod:`mg_model.train.synthetic`): for every cell of the ``grid x grid`` layout (one cell per
LR token), classify what it holds (empty / circle / square / sign), its colour and, for a sign, its digit.

* The LR CLIP is trained on **LR views only** (the processor's ``images``: the HR tensor bilinearly
  down-sampled, docs/official_code.md#image-preprocessing); its per-token features ``[B, N, C_L]`` feed the head. It never sees HR pixels, so
  whatever it learns to read is what the LR view allows.
* The HR ConvNeXt is trained on HR views (``images_aux``); a cell's feature is the mean of its ``p x p``
  mining candidates (:func:`mg_model.mining.group_hr_candidates`), ``[B, N, C_H]``.

Each encoder gets its own linear head (LayerNorm + Linear), thrown away afterwards. The probe accuracies on
held-out pretext images (digit at sign cells, kind at every cell) are returned: they say how much of the
detail each encoder *can* read before any MGM training. Pretext images use their own seed range (never the
train / test images) and more signs per image (``extra_signs``) for more digit labels per step.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mg_model.mining import group_hr_candidates

from .setup import cosine_schedule
from .synthetic import CELL_COLOURS, CELL_KINDS, SyntheticSpec, draw_scene

PRETEXT_VERSION = 2  # bump when the pretext data or loss change (part of the pretrained base's folder hash)
PRETEXT_SEED_OFFSET = 20_000_000  # make_split uses 0 (train) and 10_000_000 (test)
IGNORE = -100
N_DIGITS = 10


@dataclass(frozen=True)
class PretextOptions:
    """Pretext training settings (recipe key ``base.pretrain_encoders``).

    Attributes:
        n_images: pretext training images; ``n_probe`` more are held out for the probe accuracies.
        extra_signs: signs per image beyond the generator's one (more digit labels per step).
        lr_steps / hr_steps: optimizer steps for the LR CLIP / the HR ConvNeXt.
        batch_size, lr, weight_decay: AdamW, cosine schedule with 5 % warm-up.
        seed: image seeds and batch order.
    """

    n_images: int = 3000
    n_probe: int = 500
    extra_signs: int = 3
    lr_steps: int = 1500
    hr_steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0


@dataclass
class PretextSet:
    """Pretext images and labels: ``lr`` [N, 3, r, r], ``hr`` [N, 3, S, S], ``labels`` [N, cells, 3]
    (kind, colour, digit or -100 where the cell holds no one-digit sign)."""

    lr: torch.Tensor
    hr: torch.Tensor
    labels: torch.Tensor


def cell_labels(layout: list[dict]) -> list[list[int]]:
    """``[[kind, colour, digit], ...]`` per cell of a :func:`draw_scene` layout (digit -100 if none)."""
    return [[cell["kind"], cell["colour"], int(cell["digits"]) if len(cell["digits"]) == 1 else IGNORE]
            for cell in layout]


def pretext_set(spec: SyntheticSpec, image_processor: Any, count: int, seed: int, extra_signs: int) -> PretextSet:
    """Draw ``count`` pretext scenes and preprocess them with the checkpoint's image processor."""
    images, labels = [], []
    for index in range(count):
        image, _, _, layout = draw_scene(spec, random.Random(seed * 100_003 + PRETEXT_SEED_OFFSET + index),
                                         extra_signs=extra_signs)
        images.append(image)
        labels.append(cell_labels(layout))
    pixels = image_processor(images)
    return PretextSet(pixels["images"], pixels["images_aux"], torch.tensor(labels))


class CellHead(nn.Module):
    """Linear classifier of a cell feature [B, cells, dim] into kind, colour and digit logits."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.sizes = (len(CELL_KINDS), len(CELL_COLOURS), N_DIGITS)
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, sum(self.sizes)))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Logits ``(kind [B, cells, 4], colour [B, cells, 7], digit [B, cells, 10])``."""
        return torch.split(self.net(features), self.sizes, dim=-1)

    def loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sum of the three cross-entropies (digit only at sign cells)."""
        return sum(F.cross_entropy(logits.flatten(0, 1), labels[..., i].flatten(), ignore_index=IGNORE)
                   for i, logits in enumerate(self(features)))


def lr_cell_features(model: Any, lr: torch.Tensor) -> torch.Tensor:
    """CLIP features of the LR views [B, 3, r, r] -> [B, N, C_L] (one token per cell)."""
    return model.model.vision_tower(lr)


def hr_cell_features(model: Any, hr: torch.Tensor) -> torch.Tensor:
    """ConvNeXt map of the HR views [B, 3, S, S] -> mean mining candidate per cell [B, N, C_H]."""
    side = int(model.model.vision_tower.num_patches ** 0.5)
    return group_hr_candidates(model.model.vision_tower_aux(hr), side).mean(dim=2)


def train_encoder(encoder: nn.Module, features: Any, pixels: torch.Tensor, labels: torch.Tensor, steps: int,
                  options: PretextOptions, generator: torch.Generator) -> tuple[CellHead, list[float]]:
    """Train ``encoder`` + a fresh :class:`CellHead` on ``features(pixels[idx])``; returns the head and the losses."""
    with torch.no_grad():
        dim = features(pixels[:2]).shape[-1]
    head = CellHead(dim)
    encoder.train()
    for parameter in encoder.parameters():
        parameter.requires_grad_(True)
    parameters = [p for p in list(encoder.parameters()) + list(head.parameters()) if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=options.lr, weight_decay=options.weight_decay)
    scheduler = cosine_schedule(optimizer, max(1, steps // 20), steps)
    losses = []
    for _ in range(steps):
        index = torch.randint(0, pixels.shape[0], (options.batch_size,), generator=generator)
        loss = head.loss(features(pixels[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(round(float(loss.detach()), 4))
    encoder.eval()
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return head, losses


@torch.no_grad()
def probe_accuracy(head: CellHead, features: Any, pixels: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Held-out accuracies: ``digit`` at sign cells, ``kind`` and ``colour`` at every cell (fractions)."""
    outputs = [head(features(pixels[start:start + 100])) for start in range(0, pixels.shape[0], 100)]
    kind, colour, digit = (torch.cat([out[i] for out in outputs]) for i in range(3))
    signs = labels[..., 2] != IGNORE
    return {"digit": float((digit.argmax(-1)[signs] == labels[..., 2][signs]).float().mean()),
            "kind": float((kind.argmax(-1) == labels[..., 0]).float().mean()),
            "colour": float((colour.argmax(-1) == labels[..., 1]).float().mean())}


def pretrain_encoders(model: Any, image_processor: Any, spec: SyntheticSpec,
                      options: PretextOptions = PretextOptions()) -> dict[str, Any]:
    """Pretrain ``model``'s LR CLIP and HR ConvNeXt in place on the pretext task; both end frozen (eval).

    Args:
        model: a tiny :class:`~mg_model.MGMForCausalLM` (non-HD: one LR view of ``grid x grid`` tokens).
        image_processor: its :class:`~mg_model.image_processing.MGMImageProcessor`.
        spec: the synthetic generator settings of the downstream data (same font, grid and sizes).

    Returns:
        A report: options, seconds, loss curves (per step) and held-out probe accuracies per encoder.
    """
    side = int(model.model.vision_tower.num_patches ** 0.5)
    if side != spec.grid or int(model.config.image_grid) != 1:
        raise ValueError(f"pretext cells ({spec.grid}x{spec.grid}) must be the LR token grid ({side}x{side}) "
                         "of a non-HD model")
    with torch.random.fork_rng(devices=[]):  # heads' init and ConvNeXt drop-path draw from it; caller's RNG kept
        torch.manual_seed(options.seed)
        return _pretrain(model, image_processor, spec, options)


def _pretrain(model: Any, image_processor: Any, spec: SyntheticSpec, options: PretextOptions) -> dict[str, Any]:
    started = time.time()
    train = pretext_set(spec, image_processor, options.n_images, options.seed, options.extra_signs)
    held_out = pretext_set(spec, image_processor, options.n_probe, options.seed + 1, options.extra_signs)
    generator = torch.Generator().manual_seed(options.seed)
    report: dict[str, Any] = {"options": asdict(options), "spec": asdict(spec)}
    for name, encoder, features, pixels, probe_pixels, steps in (
            ("lr_clip", model.model.vision_tower, lambda x: lr_cell_features(model, x), train.lr, held_out.lr,
             options.lr_steps),
            ("hr_convnext", model.model.vision_tower_aux, lambda x: hr_cell_features(model, x), train.hr,
             held_out.hr, options.hr_steps)):
        began = time.time()
        head, losses = train_encoder(encoder, features, pixels, train.labels, steps, options, generator)
        report[name] = {"steps": steps, "seconds": round(time.time() - began, 1), "losses": losses,
                        "probe": probe_accuracy(head, features, probe_pixels, held_out.labels)}
    report["seconds"] = round(time.time() - started, 1)
    return report
