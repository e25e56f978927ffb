"""Write tests/data/processing_image_goldens.npz with transformers 4.36.2's CLIPImageProcessor.

Reproduces the official MGM eval preprocessing (``process_images`` with ``image_aspect_ratio='pad'`` and
the eval scripts' LR / HD steps, docs/official_code.md#image-preprocessing) on a few small random images, with the CLIP processor class the
official code ran on, so ``tests/test_processing.py`` can check ``MGMImageProcessor`` bit for bit.

Run with transformers 4.36.2 first on the path, e.g.:

    pip install --target /tmp/tf436 --no-deps transformers==4.36.2 tokenizers==0.15.0 huggingface_hub==0.20.3
    PYTHONPATH=/tmp/tf436 python3 scripts/make_image_goldens.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "data" / "processing_image_goldens.npz"
RAW, GRID = 8, 2  # CLIP crop side and HD grid (the real values are 336 and 2)
SETTINGS = {"hd": (32, True), "plain": (20, False)}  # name -> (image_size_aux, HD with global view)
SHAPES = [(13, 7), (7, 13), (11, 11), (40, 25)]  # (width, height), wide / tall / square / larger


def make_images() -> list[np.ndarray]:
    """uint8 RGB arrays [H, W, 3] from a fixed seed."""
    rng = np.random.default_rng(2024)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for w, h in SHAPES]


def official_pixels(array: np.ndarray, aux: int, hd: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images, images_aux) for one image as the official eval code builds them."""
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from transformers import CLIPImageProcessor

    processor = CLIPImageProcessor(
        size={"shortest_edge": RAW}, crop_size={"height": RAW, "width": RAW}, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    processor.crop_size = {"height": aux, "width": aux}
    processor.size = {"shortest_edge": aux}
    image = Image.fromarray(array).convert("RGB")
    width, height = image.size
    background = tuple(int(m * 255) for m in processor.image_mean)
    if width != height:  # expand2square
        side = max(width, height)
        canvas = Image.new(image.mode, (side, side), background)
        canvas.paste(image, (0, (width - height) // 2) if width > height else ((height - width) // 2, 0))
        image = canvas
    hr = processor.preprocess(image, return_tensors="pt")["pixel_values"][0]
    grid = GRID if hd else 1
    lr = F.interpolate(hr[None], size=[RAW * grid, RAW * grid], mode="bilinear", align_corners=False)[0]
    if hd:
        crops = lr.reshape(3, grid, RAW, grid, RAW).permute(1, 3, 0, 2, 4).reshape(-1, 3, RAW, RAW)
        global_view = F.interpolate(lr[None], size=[RAW, RAW], mode="bilinear", align_corners=False)
        lr = torch.cat([crops, global_view], dim=0)
    return lr.numpy(), hr.numpy()


def main() -> None:
    """Record the goldens."""
    import transformers

    if not transformers.__version__.startswith("4.36"):
        raise SystemExit(f"needs transformers 4.36.x on the path, found {transformers.__version__}")
    arrays: dict[str, np.ndarray] = {}
    for index, image in enumerate(make_images()):
        arrays[f"image_{index}"] = image
        for name, (aux, hd) in SETTINGS.items():
            lr, hr = official_pixels(image, aux, hd)
            arrays[f"{name}_images_{index}"] = lr
            arrays[f"{name}_images_aux_{index}"] = hr
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(arrays)} arrays to {OUT}")


if __name__ == "__main__":
    main()
