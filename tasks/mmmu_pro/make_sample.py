"""Write this folder's ``sample/``: the ``MMMU/MMMU_Pro`` hub layout, one parquet per setting, drawn images.

    python tasks/mmmu_pro/make_sample.py [--out DIR]

``standard (10 options)/test-00000-of-00001.parquet`` (3 questions, one with images inside its options, 10
options each) and ``vision/test-00000-of-00001.parquet`` (the same questions as drawn screenshots).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
LETTERS = "ABCDEFGHIJ"
QUESTIONS = [  # id, subject, question, options, answer, images (name -> drawn text)
    ("test_Art_1", "Art", "<image 1> Which shape is drawn in the picture?",
     ["A circle", "A square", "A triangle", "A star", "A hexagon", "A line", "An oval", "A cross", "A heart",
      "A moon"], "C", {"image_1": "triangle"}),
    ("test_Math_2", "Math", "How many bars are in <image 1>?",
     ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"], "D", {"image_1": "4 bars"}),
    ("test_Design_3", "Design", "Which image shows a square?",
     ["<image 2>", "<image 1>", "neither", "both", "<image 3>", "a circle", "a line", "none", "all", "unknown"],
     "B", {"image_1": "square", "image_2": "circle", "image_3": "line"}),
]


def _png(text: str, size=(96, 64)) -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((4, 4), text, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    import datasets

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sample"), help="output folder (default: this folder's sample/)")
    out = Path(parser.parse_args(argv).out)
    standard, vision = [], []
    for qid, subject, question, options, answer, images in QUESTIONS:
        cells = {f"image_{k}": None for k in range(1, 8)}
        cells.update({name: {"bytes": _png(text), "path": None} for name, text in images.items()})
        standard.append({"id": qid, "question": question, "options": str(options), "explanation": "", **cells,
                         "img_type": str(["Diagrams"]), "answer": answer, "topic_difficulty": "Easy",
                         "subject": subject})
        shot = question + "\n" + "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        vision.append({"id": qid, "image": {"bytes": _png(shot, (320, 200)), "path": None},
                       "options": str(options), "answer": answer, "subject": subject})
    standard_features = datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"), "options": datasets.Value("string"),
        "explanation": datasets.Value("string"), **{f"image_{k}": datasets.Image() for k in range(1, 8)},
        "img_type": datasets.Value("string"), "answer": datasets.Value("string"),
        "topic_difficulty": datasets.Value("string"), "subject": datasets.Value("string")})
    vision_features = datasets.Features({
        "id": datasets.Value("string"), "image": datasets.Image(), "options": datasets.Value("string"),
        "answer": datasets.Value("string"), "subject": datasets.Value("string")})
    for config, rows, features in (("standard (10 options)", standard, standard_features),
                                   ("vision", vision, vision_features)):
        (out / config).mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows, features=features).to_parquet(str(out / config / "test-00000-of-00001.parquet"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
