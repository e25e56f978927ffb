"""Write this folder's ``sample/OCRBench.tsv``: drawn images in VLMEvalKit's OCRBench layout (base64 images).

    python tasks/ocrbench/make_sample.py [--out DIR]

One question per category (10), each image showing the text its answer names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from mg_eval.tasks.formats import write_sample_tsv

HERE = Path(__file__).resolve().parent
QUESTIONS = [  # (category, question, answers, text drawn)
    ("Regular Text Recognition", "what is written in the image?", ["STOP"], "STOP"),
    ("Irregular Text Recognition", "what is written in the image?", ["coffee"], "coffee"),
    ("Artistic Text Recognition", "what is written in the image?", ["SALE"], "SALE"),
    ("Handwriting Recognition", "what is written in the image?", ["hello"], "hello"),
    ("Digit String Recognition", "what is the number in the image?", ["40213"], "40213"),
    ("Non-Semantic Text Recognition", "what is written in the image?", ["xqzt"], "xqzt"),
    ("Scene Text-centric VQA", "What is the name of the shop?", ["Blue Cafe", "blue cafe"], "Blue Cafe"),
    ("Doc-oriented VQA", "What is the total?", ["$12.50", "12.50"], "Total $12.50"),
    ("Key Information Extraction", "What is the date? Answer this question using the text in the image directly.",
     ["2024-03-01"], "Date 2024-03-01"),
    ("Handwritten Mathematical Expression Recognition",
     "Please write out the expression of the formula in the image using LaTeX format.", ["x ^ { 2 } + 1"], "x^2+1"),
]


def draw(text: str) -> Image.Image:
    """A 120x40 picture with ``text`` in black on white."""
    image = Image.new("RGB", (120, 40), "white")
    ImageDraw.Draw(image).text((6, 14), text, fill="black")
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sample"), help="output folder (default: this folder's sample/)")
    rows = [{"index": index, "image": draw(text), "question": question, "answer": repr(answers),
             "category": category} for index, (category, question, answers, text) in enumerate(QUESTIONS)]
    print(f"wrote {write_sample_tsv(rows, Path(parser.parse_args(argv).out) / 'OCRBench.tsv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
