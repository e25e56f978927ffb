"""Write this folder's ``sample/AI2D_TEST.tsv``: drawn diagrams in VLMEvalKit's AI2D_TEST layout (base64 images).

    python tasks/ai2d/make_sample.py [--out DIR]

6 questions with 2-4 options (empty option cells for the missing ones), in 3 categories.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from mg_eval.tasks.formats import write_sample_tsv

HERE = Path(__file__).resolve().parent
QUESTIONS = [  # (question, options, answer, category, drawn labels)
    ("Which stage comes after the egg?", ["larva", "adult", "pupa", "egg"], "A", "lifeCycles", ("egg", "?")),
    ("What does the arrow point to?", ["producer", "consumer"], "B", "foodChainsWebs", ("grass", "rabbit")),
    ("Which layer is on the outside?", ["core", "mantle", "crust"], "C", "partsOfTheEarth", ("crust", "core")),
    ("What eats the grass?", ["rabbit", "sun", "soil", "rain"], "A", "foodChainsWebs", ("grass", "rabbit")),
    ("Which layer is in the centre?", ["mantle", "core", "crust"], "B", "partsOfTheEarth", ("crust", "core")),
    ("How many stages are shown?", ["2", "4"], "A", "lifeCycles", ("egg", "?")),
]


def draw(labels: tuple[str, str]) -> Image.Image:
    """A 96x48 diagram: two labelled boxes joined by an arrow."""
    image = Image.new("RGB", (96, 48), "white")
    pen = ImageDraw.Draw(image)
    for i, label in enumerate(labels):
        pen.rectangle((4 + 56 * i, 12, 40 + 56 * i, 36), outline="black")
        pen.text((8 + 56 * i, 18), label, fill="black")
    pen.line((40, 24, 60, 24), fill="red", width=2)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sample"), help="output folder (default: this folder's sample/)")
    rows = []
    for index, (question, options, answer, category, labels) in enumerate(QUESTIONS):
        cells = {letter: (options[i] if i < len(options) else None) for i, letter in enumerate("ABCD")}
        rows.append({"index": index, "question": question, **cells, "answer": answer, "category": category,
                     "image": draw(labels)})
    print(f"wrote {write_sample_tsv(rows, Path(parser.parse_args(argv).out) / 'AI2D_TEST.tsv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
