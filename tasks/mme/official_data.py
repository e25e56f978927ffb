"""MME official layouts: the released benchmark folder, or eval_tool question files + image folders.

* ``MME_Benchmark_release_version/[MME_Benchmark/]<category>/``: ``images/`` + ``questions_answers_YN/<stem>.txt``
  (artwork, celebrity, landmark, posters, scene) or image files with ``<stem>.txt`` beside them (the other
  nine); each txt holds the image's two ``question\\tanswer`` lines.
* eval_tool layout: ``<category>.txt`` files with ``image\\tquestion\\tanswer`` lines (``Your_Results/``),
  images in ``<category>/images/`` or ``<category>/`` next to them.

Rows follow ``lmms-lab/MME``: ``question_id`` = ``<category>/<image file>``, ``image``, ``question``,
``answer`` (Yes/No), ``category``.
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.errors import DataError
from mg_eval.tasks.formats import read_text
from mg_eval.tasks.loaders import ImageRef, Row

from .scorer import COGNITION, PERCEPTION

CATEGORIES = PERCEPTION + COGNITION
_IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")


def _lines(file: Path, fields: int) -> list[tuple[int, list[str]]]:
    out = []
    for n, line in enumerate(read_text(file).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < fields:
            raise DataError(f"{file}: line {n} has {len(parts)} tab-separated fields, expected {fields}.")
        out.append((n, parts))
    return out


def _row(category: str, image: Path, question: str, answer: str, where: str) -> Row:
    record = {"question_id": f"{category}/{image.name}", "image": ImageRef(where=where, path=str(image)),
              "question": question, "answer": answer.strip(), "category": category}
    return record, where


def _release_category(folder: Path, category: str) -> list[Row]:
    qa_dir = folder / "questions_answers_YN"
    image_dir = folder / "images" if qa_dir.is_dir() else folder
    txt_files = sorted((qa_dir if qa_dir.is_dir() else folder).glob("*.txt"))
    rows = []
    for txt in txt_files:
        candidates = [image_dir / (txt.stem + s) for s in _IMAGE_SUFFIXES]
        image = next((c for c in candidates if c.is_file()), candidates[0])
        for n, (question, answer, *_) in _lines(txt, 2):
            rows.append(_row(category, image, question, answer, f"{txt}: line {n}"))
    return rows


def _eval_tool_category(txt: Path, category: str) -> list[Row]:
    roots = [txt.parent / category / "images", txt.parent / category, txt.parent / "images" / category]
    rows = []
    for n, (image_name, question, answer, *_) in _lines(txt, 3):
        candidates = [r / image_name for r in roots]
        image = next((c for c in candidates if c.is_file()), candidates[0])
        rows.append(_row(category, image, question, answer, f"{txt}: line {n}"))
    return rows


def read(path: Path, split: str) -> list[Row]:
    """Rows in the ``lmms-lab/MME`` schema from either official layout (``split`` is always ``test``)."""
    for nested in ("MME_Benchmark_release_version", "MME_Benchmark"):  # the zip nests both in some releases
        if path.is_dir() and (path / nested).is_dir():
            path = path / nested
    rows: list[Row] = []
    for category in CATEGORIES:
        if (path / f"{category}.txt").is_file():
            rows.extend(_eval_tool_category(path / f"{category}.txt", category))
        elif (path / category).is_dir():
            rows.extend(_release_category(path / category, category))
    if not rows:
        raise DataError(f"{path}: no MME category found (expected folders or <category>.txt files named "
                        f"{', '.join(CATEGORIES)}).")
    return rows
