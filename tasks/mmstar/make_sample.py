"""Write this folder's ``sample/MMStar.tsv``: drawn images, the VLMEvalKit tsv layout (base64 images).

    python tasks/mmstar/make_sample.py [--out DIR]

Four questions over four capabilities; two keep the options in ``A``-``D`` columns, two inline in the question
(the hub's form), so both reader paths are exercised.
"""

from __future__ import annotations

import argparse
import base64
import io
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
QUESTIONS = [  # (question, options, answer, category, l2-category, shape, inline options)
    ("Which shape is in the image?", ["circle", "square", "triangle", "star"], "A", "coarse perception",
     "image scene and topic", "circle", False),
    ("How many bars are there?", ["2", "3", "4", "5"], "C", "fine-grained perception", "object counting",
     "bars", True),
    ("What is 2 + 3, as written on the card?", ["4", "5, maybe", "6"], "B", "math",
     "numeric commonsense and calculation", "text", False),
    ("Is the square left of the circle?", ["yes", "no"], "A", "instance reasoning",
     "cross-instance relation reasoning", "pair", True),
]


def draw(shape: str) -> Image.Image:
    """A 96x64 picture with the named content."""
    image = Image.new("RGB", (96, 64), "white")
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse((24, 10, 66, 52), fill="blue")
    elif shape == "bars":
        for i, height in enumerate((20, 35, 50, 28)):
            pen.rectangle((8 + i * 20, 64 - height, 20 + i * 20, 62), fill="purple")
    elif shape == "text":
        pen.text((10, 24), "2 + 3", fill="black")
    else:
        pen.rectangle((6, 16, 36, 46), fill="green")
        pen.ellipse((56, 16, 86, 46), fill="blue")
    return image


def _b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sample"), help="output folder (default: this folder's sample/)")
    out = Path(parser.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (question, options, answer, category, l2, shape, inline) in enumerate(QUESTIONS):
        row = {"index": index, "question": question, "answer": answer, "category": category,
               "l2-category": l2, "image": _b64(draw(shape))}
        if inline:
            row["question"] += "\nOptions: " + ", ".join(f"{chr(65 + i)}: {t}" for i, t in enumerate(options))
        else:
            row.update({chr(65 + i): t for i, t in enumerate(options)})
        rows.append(row)
    pd.DataFrame(rows).to_csv(out / "MMStar.tsv", sep="\t", index=False)
    print(f"wrote {out / 'MMStar.tsv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
