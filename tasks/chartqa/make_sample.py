"""Write this folder's ``sample/``: drawn bar charts in the official ChartQA layout (``test/`` json + ``png/``).

    python tasks/chartqa/make_sample.py [--out DIR]

Three charts, four human-written and four augmented questions (numbers, a percentage, words).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
CHARTS = {"bars_1.png": (3, 7, 5), "bars_2.png": (12, 4), "bars_3.png": (2, 9, 6, 1)}
HUMAN = [("bars_1.png", "How many bars are there?", "3"), ("bars_1.png", "What is the value of the tallest bar?", "7"),
         ("bars_2.png", "Is the first bar taller than the second?", "Yes"), ("bars_3.png", "What is the smallest value?", "1")]
AUGMENTED = [("bars_2.png", "What is the sum of both bars?", "16"), ("bars_3.png", "What is the largest value?", "9"),
             ("bars_1.png", "What share of the total is the last bar?", "33.3%"), ("bars_3.png", "Which colour are the bars?", "blue")]


def draw(values: tuple[int, ...]) -> Image.Image:
    """A 96x64 white chart with one blue bar per value (4 px per unit)."""
    image = Image.new("RGB", (96, 64), "white")
    pen = ImageDraw.Draw(image)
    for i, value in enumerate(values):
        pen.rectangle((6 + 22 * i, 60 - 5 * value, 20 + 22 * i, 60), fill="blue")
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "sample")
    args = parser.parse_args(argv)
    folder = args.out / "test"
    (folder / "png").mkdir(parents=True, exist_ok=True)
    for name, values in CHARTS.items():
        draw(values).save(folder / "png" / name)
    for name, questions in (("human", HUMAN), ("augmented", AUGMENTED)):
        items = [{"imgname": image, "query": query, "label": label} for image, query, label in questions]
        (folder / f"test_{name}.json").write_text(json.dumps(items, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
