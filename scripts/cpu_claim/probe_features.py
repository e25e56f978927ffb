"""Linear probes of the frozen tiny encoders on the synth_detail training images (feature-level check).

Reads the generated data set (``generated/synth_detail`` by default) and the tiny base checkpoint the
ablation recipe builds, and reports how well a linear classifier recovers the digit from

* ``LR``: the CLIP feature of the LR token that holds the sign (what the baseline sees),
* ``HR mean``: the mean over that token's 64 HR candidates (what mining with uniform attention sees),
* ``HR cells``: all 64 candidates of that token concatenated (what mining can select from).

Usage: ``python3 scripts/cpu_claim/probe_features.py [DATA_DIR] [CHECKPOINT]``. Deterministic (seed 0).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import torch
from PIL import Image

from mg_model import MGMForCausalLM, MGMProcessor
from mg_model.mining import group_hr_candidates
from mg_model.train.synthetic import SyntheticSpec, draw_sample


def features(data: Path, checkpoint: Path) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Per-image features at the sign's LR token and the digit labels."""
    model = MGMForCausalLM.from_pretrained(checkpoint, torch_dtype=torch.float32)
    processor = MGMProcessor.from_pretrained(checkpoint)
    records = json.loads((data / "TextVQA_synth_detail_val.json").read_text())["data"]
    train = json.loads((data / "train.json").read_text())
    meta = json.loads((data / "meta.json").read_text())
    grid = int(meta["spec"]["grid"])
    del records  # the probe uses the training split (more samples); test split is for the models


    spec = SyntheticSpec(**meta["spec"])
    cells, labels = [], []
    for index in range(len(train)):
        _, answer, (row, col) = draw_sample(spec, random.Random(meta["seed"] * 100_003 + index))
        cells.append(row * grid + col)
        labels.append(int(answer))
    lr_feats, hr_feats = [], []
    with torch.no_grad():
        for start in range(0, len(train), 100):
            chunk = train[start:start + 100]
            pixels = processor.image_processor([Image.open(data / r["image"]).convert("RGB") for r in chunk])
            lr_feats.append(model.model.vision_tower(pixels["images"]))
            hr_feats.append(group_hr_candidates(model.model.vision_tower_aux(pixels["images_aux"]), grid))
    index = torch.arange(len(train))
    cell = torch.tensor(cells)
    lr, hr = torch.cat(lr_feats)[index, cell], torch.cat(hr_feats)[index, cell]
    return {"LR": lr, "HR mean": hr.mean(1), "HR cells": hr.flatten(1)}, torch.tensor(labels)


def probe(x: torch.Tensor, y: torch.Tensor, n_train: int) -> float:
    """Test accuracy of an L2-regularised softmax regression trained on the first ``n_train`` rows."""
    torch.manual_seed(0)
    x = (x - x[:n_train].mean(0)) / (x[:n_train].std(0) + 1e-6)
    weight = torch.zeros(x.shape[1], 10, requires_grad=True)
    bias = torch.zeros(10, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=1e-2)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(x[:n_train] @ weight + bias, y[:n_train]) + 1e-3 * weight.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(((x[n_train:] @ weight + bias).argmax(1) == y[n_train:]).float().mean())


def main() -> int:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "generated/synth_detail")
    checkpoint = Path(sys.argv[2] if len(sys.argv) > 2 else "checkpoints/ablations/_cpu_info_mining_random_init_work/base-tiny-seed0")
    feats, labels = features(data, checkpoint)
    n_train = int(0.8 * len(labels))
    for name, x in feats.items():
        print(f"{name:9s} dim {x.shape[1]:5d}  linear-probe test accuracy {100 * probe(x, labels, n_train):5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
