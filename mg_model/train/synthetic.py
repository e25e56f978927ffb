"""A detail-heavy synthetic VQA dataset for the CPU-scale reproduction of the paper's central claim.

Each image is a square canvas divided into ``grid x grid`` cells, one cell per LR visual token. Large
coloured shapes (visible at any resolution) fill some cells; one cell holds a light "sign" with a short
number drawn in a small font. The glyph strokes are about one HR pixel wide, so after the LR path (the HR
tensor bilinearly down-sampled by ``lr_size / hr_size``, docs/official_code.md#image-preprocessing) they are mostly lost, while the HR view
keeps them. The sign itself stays visible at LR, so the model can find *where* to look from LR tokens and
must read *what* it says from the HR candidates of that token: exactly what patch info mining provides.

Questions are TextVQA-style ("What is the number on the sign?") and the test split is written in the
TextVQA annotation schema (10 answers per question, all identical here), so the official TextVQA metric
(``tasks/textvqa/scorer.py``) scores it. The train split is a LLaVA/MGM conversation JSON.

Output layout of :func:`write_dataset` (deterministic for a given seed and parameters)::

    <out>/images/{train,test}_00000.jpg   (JPEG quality 100, no chroma subsampling)
    <out>/train.json                      LLaVA/MGM conversations (stage-2 format)
    <out>/captions.json                   the same images with captions (stage-1 alignment data)
    <out>/TextVQA_synth_detail_val.json   test split, official TextVQA layout {"dataset_type": "val", "data":
                                          [{question_id, image_id, question, answers[10], sign_cell}]}
    <out>/meta.json                       generator parameters + counts (written last)

The test file is what the ``synth_detail`` task (``tasks/synth_detail``) reads with the TextVQA file reader.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

QUESTIONS = (
    "What is the number on the sign?",
    "What number is written on the sign?",
    "Which number does the sign show?",
    "Read the number on the sign.",
)
ANSWER_SUFFIX = "\nAnswer the question using a single word or phrase."
CAPTION_PROMPT = "Describe the sign."  # stage-1 (alignment) prompt; the answer is caption_for(number)
GENERATOR_VERSION = "2"  # 2: captions.json added (images unchanged)
TEST_FILE = "TextVQA_synth_detail_val.json"
CAPTIONS_FILE = "captions.json"
_SHAPE_COLOURS = ((200, 60, 60), (60, 160, 70), (60, 90, 200), (210, 170, 40), (150, 70, 170), (40, 170, 170))
CELL_KINDS = ("empty", "circle", "square", "sign")
CELL_COLOURS = ("none", "red", "green", "blue", "yellow", "purple", "cyan")  # index 1.. = _SHAPE_COLOURS


@dataclass(frozen=True)
class SyntheticSpec:
    """Generator parameters.

    Attributes:
        hr_size: canvas side in pixels (the model's ``image_size_aux``).
        grid: cells per side (the LR token grid: LR image side / CLIP patch size).
        digits: characters of the number on the sign.
        font_px: glyph size in HR pixels (default: 45 % of a cell).
        n_shapes: distractor shapes per image.
        jitter: the number is centred in the sign and shifted by up to ``jitter`` HR pixels in x and y
            (random per image); shifts below one LR pixel change what the LR down-sampling keeps.
        fixed_cell: always put the sign in the same cell (row grid//2, col grid//2) instead of a random one.
    """

    hr_size: int = 128
    grid: int = 4
    digits: int = 2
    font_px: int | None = None
    n_shapes: int = 3
    jitter: int = 2
    fixed_cell: bool = False

    @property
    def cell(self) -> int:
        """Cell side in HR pixels."""
        return self.hr_size // self.grid

    def validate(self) -> None:
        """Raise ValueError for sizes that cannot hold a readable sign."""
        if self.grid < 1 or self.hr_size % self.grid:
            raise ValueError(f"hr_size={self.hr_size} must be a positive multiple of grid={self.grid}")
        if self.cell < 12:
            raise ValueError(f"cells of {self.cell}px are too small for a sign; raise hr_size or lower grid")
        if not 1 <= self.digits <= 6:
            raise ValueError(f"digits={self.digits} must be within 1..6")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_sample(spec: SyntheticSpec, rng: random.Random) -> tuple[Image.Image, str, tuple[int, int]]:
    """One image, its answer string and the (row, col) cell of the sign."""
    image, answer, sign_cell, _ = draw_scene(spec, rng)
    return image, answer, sign_cell


def draw_scene(spec: SyntheticSpec, rng: random.Random,
               extra_signs: int = 0) -> tuple[Image.Image, str, tuple[int, int], list[dict]]:
    """:func:`draw_sample` plus what every cell holds (the labels of the encoders' pretext task).

    Args:
        extra_signs: further signs (each with its own number) in free cells, drawn after everything else,
            so ``extra_signs=0`` gives exactly :func:`draw_sample`'s image (the encoders' pretext images use
            more signs per image: more digit labels per step).

    Returns:
        ``(image, answer, sign_cell, cells)``; ``cells`` has ``grid * grid`` entries in raster order, each
        ``{"kind": k, "colour": c, "digits": d}`` with ``k`` an index into :data:`CELL_KINDS`, ``c`` an index
        into :data:`CELL_COLOURS` (``0`` = none) and ``d`` the sign's number ("" for other cells).
    """
    side, cell = spec.hr_size, spec.cell
    background = tuple(rng.randint(90, 160) for _ in range(3))
    image = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(image)
    cells = [(r, c) for r in range(spec.grid) for c in range(spec.grid)]
    rng.shuffle(cells)
    if spec.fixed_cell:
        centre = (spec.grid // 2, spec.grid // 2)
        cells.remove(centre)
        cells.insert(0, centre)
    sign_cell, shape_cells = cells[0], cells[1:1 + spec.n_shapes]
    layout = [{"kind": 0, "colour": 0, "digits": ""} for _ in range(spec.grid * spec.grid)]
    for row, col in shape_cells:
        layout[row * spec.grid + col] = _draw_shape(draw, rng, col * cell, row * cell, cell)
    signs = [sign_cell] + cells[1 + spec.n_shapes: 1 + spec.n_shapes + extra_signs]
    for row, col in signs:
        number = "".join(str(rng.randint(0, 9)) for _ in range(spec.digits))
        _draw_sign(draw, rng, col * cell, row * cell, cell, number, spec)
        layout[row * spec.grid + col] = {"kind": CELL_KINDS.index("sign"), "colour": 0, "digits": number}
    return image, layout[sign_cell[0] * spec.grid + sign_cell[1]]["digits"], sign_cell, layout


def _draw_shape(draw: ImageDraw.ImageDraw, rng: random.Random, x: int, y: int, cell: int) -> dict:
    """Draw a coloured circle or square; returns its cell label ``{"kind", "colour"}``."""
    colour = rng.choice(_SHAPE_COLOURS)
    margin = cell // 8
    box = (x + margin, y + margin, x + cell - margin, y + cell - margin)
    if rng.random() < 0.5:
        draw.ellipse(box, fill=colour)
        kind = "circle"
    else:
        draw.rectangle(box, fill=colour)
        kind = "square"
    return {"kind": CELL_KINDS.index(kind), "colour": 1 + _SHAPE_COLOURS.index(colour), "digits": ""}


def _draw_sign(draw: ImageDraw.ImageDraw, rng: random.Random, x: int, y: int, cell: int, text: str,
               spec: SyntheticSpec) -> None:
    margin = max(1, cell // 16)
    draw.rectangle((x + margin, y + margin, x + cell - margin - 1, y + cell - margin - 1), fill=(235, 235, 225))
    font = _font(spec.font_px or max(6, int(cell * 0.45)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width, height = right - left, bottom - top
    slack_x = max(0, cell - 2 * margin - width - 2)
    slack_y = max(0, cell - 2 * margin - height - 2)
    dx = min(slack_x, max(0, slack_x // 2 + rng.randint(-spec.jitter, spec.jitter)))
    dy = min(slack_y, max(0, slack_y // 2 + rng.randint(-spec.jitter, spec.jitter)))
    tx = x + margin + 1 + dx - left
    ty = y + margin + 1 + dy - top
    ink = tuple(rng.randint(0, 50) for _ in range(3))
    draw.text((tx, ty), text, fill=ink, font=font)


def make_split(spec: SyntheticSpec, split: str, n: int, seed: int, out_dir: Path) -> list[dict]:
    """Draw ``n`` samples of ``split`` into ``out_dir/images``; returns records with image path and answer."""
    spec.validate()
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    split_offset = {"train": 0, "test": 10_000_000}[split]
    records = []
    for index in range(n):
        rng = random.Random(seed * 100_003 + split_offset + index)
        image, answer, sign_cell = draw_sample(spec, rng)
        name = f"images/{split}_{index:05d}.jpg"
        image.save(out_dir / name, quality=100, subsampling=0)
        records.append({"id": f"{split}_{index:05d}", "image": name, "answer": answer,
                        "question": rng.choice(QUESTIONS), "sign_cell": list(sign_cell)})
    return records


def to_llava(records: list[dict]) -> list[dict]:
    """Training records in the LLaVA/MGM conversation format."""
    return [{"id": r["id"], "image": r["image"],
             "conversations": [{"from": "human", "value": "<image>\n" + r["question"] + ANSWER_SUFFIX},
                               {"from": "gpt", "value": r["answer"]}]} for r in records]


def caption_for(number: str) -> str:
    """The stage-1 caption of an image whose sign shows ``number``."""
    return f"a sign with the number {number}"


def to_captions(records: list[dict]) -> list[dict]:
    """Stage-1 (alignment) records: the same images, described by :func:`caption_for`."""
    return [{"id": r["id"], "image": r["image"],
             "conversations": [{"from": "human", "value": "<image>\n" + CAPTION_PROMPT},
                               {"from": "gpt", "value": caption_for(r["answer"])}]} for r in records]


def to_textvqa(records: list[dict]) -> dict:
    """Test records in the TextVQA annotation schema (10 identical answers per question)."""
    data = [{"question_id": index, "image_id": r["id"], "question": r["question"], "answers": [r["answer"]] * 10,
             "sign_cell": r["sign_cell"]} for index, r in enumerate(records)]
    return {"dataset_type": "val", "dataset_name": "synth_detail", "dataset_version": GENERATOR_VERSION,
            "data": data}


def write_dataset(out_dir: str | Path, spec: SyntheticSpec, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Generate the train and test splits under ``out_dir`` (skipped when the same parameters exist)."""
    out = Path(out_dir)
    meta = {"version": GENERATOR_VERSION, "spec": asdict(spec), "n_train": n_train, "n_test": n_test, "seed": seed}
    meta_path = out / "meta.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) == meta:
        return out
    out.mkdir(parents=True, exist_ok=True)
    train = make_split(spec, "train", n_train, seed, out)
    test = make_split(spec, "test", n_test, seed, out)
    (out / "train.json").write_text(json.dumps(to_llava(train), indent=1))
    (out / CAPTIONS_FILE).write_text(json.dumps(to_captions(train), indent=1))
    (out / TEST_FILE).write_text(json.dumps(to_textvqa(test), indent=1))
    meta_path.write_text(json.dumps(meta, indent=1))  # written last: marks a complete dataset
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m mg_model.train.synthetic --out DIR [--n-train N --n-test N --seed S ...]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Write the synthetic detail-reading VQA dataset.")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hr-size", type=int, default=SyntheticSpec.hr_size)
    parser.add_argument("--grid", type=int, default=SyntheticSpec.grid)
    parser.add_argument("--digits", type=int, default=SyntheticSpec.digits)
    parser.add_argument("--font-px", type=int, default=None)
    parser.add_argument("--jitter", type=int, default=SyntheticSpec.jitter)
    parser.add_argument("--fixed-cell", action="store_true")
    args = parser.parse_args(argv)
    spec = SyntheticSpec(args.hr_size, args.grid, args.digits, args.font_px, jitter=args.jitter,
                         fixed_cell=args.fixed_cell)
    print(write_dataset(args.out, spec, args.n_train, args.n_test, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
