"""Write this folder's ``sample/HallusionBench.tsv``: drawn figures in VLMEvalKit's HallusionBench layout.

    python tasks/hallusionbench/make_sample.py [--out DIR]

8 questions: a VD chart set (2 figures x 2 questions, the second figure edited), a VD illusion pair and a VS
map pair, so aAcc, fAcc and qAcc all differ when one answer is wrong.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

from mg_eval.tasks.formats import write_sample_tsv

HERE = Path(__file__).resolve().parent
QUESTIONS = [  # (category, subcategory, set, figure, question, text, answer, bars)
    ("VD", "chart", 0, 0, 0, "Is the left bar taller than the right bar?", "Yes", (50, 20)),
    ("VD", "chart", 0, 0, 1, "Are there exactly two bars?", "Yes", (50, 20)),
    ("VD", "chart", 0, 1, 0, "Is the left bar taller than the right bar?", "No", (20, 50)),
    ("VD", "chart", 0, 1, 1, "Are there exactly two bars?", "Yes", (20, 50)),
    ("VD", "illusion", 1, 0, 0, "Are the two bars the same height?", "Yes", (35, 35)),
    ("VD", "illusion", 1, 1, 0, "Are the two bars the same height?", "No", (35, 45)),
    ("VS", "map", 2, 0, 0, "Is the blue region north of the green one?", "Yes", (10, 40)),
    ("VS", "map", 2, 0, 1, "Is the green region north of the blue one?", "No", (10, 40)),
]


def draw(heights: tuple[int, int]) -> Image.Image:
    """A 64x64 chart with two bars of the given heights."""
    image = Image.new("RGB", (64, 64), "white")
    pen = ImageDraw.Draw(image)
    for i, (height, colour) in enumerate(zip(heights, ("blue", "green"))):
        pen.rectangle((10 + 26 * i, 62 - height, 28 + 26 * i, 62), fill=colour)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sample"), help="output folder (default: this folder's sample/)")
    rows = [{"index": f"{cat}_{sub}_1_{set_id}_{figure}_{question_id}", "image": draw(bars), "question": text,
             "answer": answer, "category": cat, "l2-category": sub}
            for cat, sub, set_id, figure, question_id, text, answer, bars in QUESTIONS]
    print(f"wrote {write_sample_tsv(rows, Path(parser.parse_args(argv).out) / 'HallusionBench.tsv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
