"""Write this folder's ``sample/`` (validation) and ``sample_test/``: drawn pages in the official DocVQA layout.

    python tasks/docvqa/make_sample.py [--out DIR]

Three white pages with a title and a line of text; six validation questions (answers given) and three test
questions (no answers), in the official ``<split>_v1.0.json`` schema with ``documents/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
PAGES = {"page_a.png": ("INVOICE", "Total: $ 1,200"), "page_b.png": ("MEMO", "Date: 1/8/93"),
         "page_c.png": ("REPORT", "ITC Limited")}
VAL = [("page_a.png", "What is the document type?", ["invoice"]), ("page_a.png", "What is the total?", ["$ 1,200", "1,200"]),
       ("page_b.png", "What is the date?", ["1/8/93"]), ("page_b.png", "What kind of note is this?", ["memo"]),
       ("page_c.png", "Which company is named?", ["ITC Limited", "ITC"]), ("page_c.png", "What is the heading?", ["REPORT"])]
TEST = [("page_a.png", "What is written at the top?"), ("page_b.png", "What is the date?"),
        ("page_c.png", "Which company is named?")]


def draw(title: str, line: str) -> Image.Image:
    """A 128x96 white page with two lines of black text."""
    image = Image.new("RGB", (128, 96), "white")
    pen = ImageDraw.Draw(image)
    pen.text((8, 8), title, fill="black")
    pen.text((8, 40), line, fill="black")
    return image


def _write(folder: Path, split: str, items: list[dict]) -> None:
    (folder / "documents").mkdir(parents=True, exist_ok=True)
    for name, (title, line) in PAGES.items():
        draw(title, line).save(folder / "documents" / name)
    content = {"dataset_name": "docvqa", "dataset_version": "1.0", "dataset_split": split, "data": items}
    (folder / f"{split}_v1.0.json").write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    val = [{"questionId": 1000 + i, "question": question, "question_types": ["form"],
            "image": f"documents/{page}", "docId": 10 + i // 2, "ucsf_document_id": f"doc{i // 2}",
            "ucsf_document_page_no": "1", "answers": answers} for i, (page, question, answers) in enumerate(VAL)]
    test = [{"questionId": 2000 + i, "question": question, "image": f"documents/{page}", "docId": 20 + i,
             "ucsf_document_id": f"doc{i}", "ucsf_document_page_no": "1"} for i, (page, question) in enumerate(TEST)]
    _write(args.out / "sample", "val", val)
    _write(args.out / "sample_test", "test", test)
    print(f"wrote {args.out / 'sample'} and {args.out / 'sample_test'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
