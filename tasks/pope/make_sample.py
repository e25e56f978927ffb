"""Write this folder's ``sample/``: drawn images in the official POPE layout (``coco/`` + ``val2014/``).

    python -m tasks.pope.make_sample          # or: python tasks/pope/make_sample.py [--out DIR]

Two small pictures (a blue circle, a green square with an orange triangle) and, for each setting, four
questions (two present objects labelled yes, two absent ones labelled no), in the official JSON-lines schema.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
IMAGES = {"COCO_val2014_000000000001.jpg": ("circle",), "COCO_val2014_000000000002.jpg": ("square", "triangle")}
QUESTIONS = {  # setting -> (image, object, label), two images x (yes, no)
    "adversarial": [(1, "circle", "yes"), (1, "square", "no"), (2, "triangle", "yes"), (2, "circle", "no")],
    "popular": [(1, "circle", "yes"), (1, "person", "no"), (2, "square", "yes"), (2, "person", "no")],
    "random": [(1, "circle", "yes"), (1, "giraffe", "no"), (2, "square", "yes"), (2, "toaster", "no")],
}


def draw(shapes: tuple[str, ...]) -> Image.Image:
    """A 96x64 white picture with the named shapes."""
    image = Image.new("RGB", (96, 64), "white")
    pen = ImageDraw.Draw(image)
    if "circle" in shapes:
        pen.ellipse((24, 10, 66, 52), fill="blue")
    if "square" in shapes:
        pen.rectangle((8, 12, 44, 48), fill="green")
    if "triangle" in shapes:
        pen.polygon([(70, 8), (52, 56), (90, 56)], fill="orange")
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "sample"), help="output folder (default: this folder's sample/)")
    out = Path(parser.parse_args(argv).out)
    (out / "val2014").mkdir(parents=True, exist_ok=True)
    (out / "coco").mkdir(parents=True, exist_ok=True)
    names = sorted(IMAGES)
    for name in names:
        draw(IMAGES[name]).save(out / "val2014" / name, format="JPEG", quality=85)
    for setting, questions in QUESTIONS.items():
        lines = []
        for qid, (image, obj, label) in enumerate(questions, start=1):
            article = "an" if obj[0] in "aeiou" else "a"
            lines.append(json.dumps({"question_id": qid, "image": names[image - 1],
                                     "text": f"Is there {article} {obj} in the image?", "label": label}))
        (out / "coco" / f"coco_pope_{setting}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
