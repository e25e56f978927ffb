"""Write the bundled sample data: a few samples per benchmark in each official on-disk schema.

    python scripts/make_sample_data.py            # writes tasks/<benchmark>/sample/
    python scripts/make_sample_data.py --out DIR  # writes DIR/<benchmark>/

Images are drawn with PIL (small, deterministic). The records follow the official files field by field
(TextVQA_0.5.1_val.json + Rosetta OCR + train_images/, mmbench_dev_20230712.tsv with base64 images and
circular copies, the MME release folder in both of its sub-layouts, mm-vet.json + images/, MMMU parquet in
the MMMU/MMMU hub layout, MathVista testmini.json + query.json + images/). Used by the demo, `mg-eval
validate` and the tests.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parent.parent
MC_SUFFIX = "Answer with the option's letter from the given choices directly."


def draw(text: str = "", shape: str = "", color: str = "white", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A small RGB picture: a background colour, an optional shape and an optional line of text."""
    image = Image.new("RGB", size, color)
    pen = ImageDraw.Draw(image)
    w, h = size
    if shape == "circle":
        pen.ellipse((w // 4, h // 6, w // 4 + h * 2 // 3, h * 5 // 6), fill="blue")
    elif shape == "square":
        pen.rectangle((w // 4, h // 6, w // 4 + h * 2 // 3, h * 5 // 6), fill="green")
    elif shape == "triangle":
        pen.polygon([(w // 2, h // 8), (w // 5, h * 7 // 8), (w * 4 // 5, h * 7 // 8)], fill="orange")
    elif shape == "bars":
        for i, height in enumerate((20, 35, 50, 28)):
            pen.rectangle((8 + i * 20, h - height, 20 + i * 20, h - 2), fill="purple")
    if text:
        pen.text((6, 4), text, fill="black")
    return image


def save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, format="JPEG", quality=85)
    else:
        image.save(path, format="PNG", optimize=True)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def write_json(path: Path, content) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------- TextVQA


def make_textvqa(out: Path) -> None:
    """TextVQA_0.5.1_val.json, TextVQA_Rosetta_OCR_v0.2_val.json and train_images/<image_id>.jpg."""
    images = {
        "0054c91397f2fe05": (draw("STOP", color="red"), ["STOP"]),
        "00685bc495504d61": (draw("NASA 2024", color="lightgray"), ["NASA", "2024"]),
        "006d10667d17b924": (draw(shape="circle"), []),
    }
    questions = [
        (34602, "0054c91397f2fe05", "what does the sign say?", ["stop"] * 8 + ["stop sign"] * 2),
        (34603, "00685bc495504d61", "what does the NASA sign say?", ["nasa"] * 7 + ["NASA logo"] * 3),
        (34604, "00685bc495504d61", "what year is written on the sign?", ["2024"] * 9 + ["2O24"]),
        (34605, "006d10667d17b924", "what color is the circle?", ["blue"] * 9 + ["navy"]),
    ]
    data = []
    for question_id, image_id, question, answers in questions:
        image = images[image_id][0]
        data.append({
            "question": question, "image_id": image_id, "image_classes": ["Poster"],
            "flickr_original_url": f"https://example.invalid/{image_id}_o.jpg",
            "flickr_300k_url": f"https://example.invalid/{image_id}_z.jpg",
            "image_width": image.width, "image_height": image.height, "answers": answers,
            "question_tokens": question.rstrip("?").split(), "question_id": question_id, "set_name": "val",
        })
    write_json(out / "TextVQA_0.5.1_val.json",
               {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.5.1", "data": data})
    ocr = [{"image_id": image_id, "ocr_tokens": tokens,
            "ocr_info": [{"word": t, "bounding_box": {"top_left_x": 0.05, "top_left_y": 0.05, "width": 0.4,
                                                         "height": 0.2, "rotation": 0, "roll": 0, "pitch": 0,
                                                         "yaw": 0}} for t in tokens]}
           for image_id, (_, tokens) in images.items()]
    write_json(out / "TextVQA_Rosetta_OCR_v0.2_val.json",
               {"dataset_type": "val", "dataset_name": "textvqa", "dataset_version": "0.2", "data": ocr})
    for image_id, (image, _) in images.items():
        save(image, out / "train_images" / f"{image_id}.jpg")


# --------------------------------------------------------------------------------------------- MMBench


def make_mmbench(out: Path) -> None:
    """mmbench_dev_20230712.tsv: 2 main questions plus their circular copies (index + k * 1e6)."""
    import pandas as pd

    questions = [
        dict(index=0, question="Which shape is shown in the image?", hint=None,
             options=["circle", "square", "triangle", "star"], answer="A", image=draw(shape="circle"),
             category="image_topic", l2="coarse_perception", source="synthetic"),
        dict(index=1, question="What color is the light that is on?",
             hint="The picture shows a traffic light at a crossing.", options=["red", "green"], answer="B",
             image=draw("GO", color="lightgreen"), category="attribute_recognition",
             l2="finegrained_perception (instance-level)", source="synthetic"),
    ]
    rows = []
    for q in questions:
        b64 = base64.b64encode(png_bytes(q["image"])).decode()
        correct = q["options"][ord(q["answer"]) - ord("A")]
        for k in range(len(q["options"])):
            options = q["options"][k:] + q["options"][:k]
            row = {"index": q["index"] + k * 1_000_000, "question": q["question"], "hint": q["hint"]}
            row.update({letter: (options[i] if i < len(options) else None) for i, letter in enumerate("ABCD")})
            row.update(answer="ABCD"[options.index(correct)], category=q["category"], image=b64,
                       source=q["source"], **{"l2-category": q["l2"]}, comment=None, split="dev")
            rows.append(row)
    rows.sort(key=lambda row: row["index"])
    pd.DataFrame(rows).to_csv(out / "mmbench_dev_20230712.tsv", sep="\t", index=False)


# ------------------------------------------------------------------------------------------------- MME


def make_mme(out: Path) -> None:
    """MME_Benchmark_release_version/ in both sub-layouts (side-by-side txt, and images/ + questions_answers_YN/)."""
    root = out / "MME_Benchmark_release_version"
    side_by_side = {
        "existence": [("000000006040.jpg", draw(shape="circle"),
                       [("Is there a blue circle in this image? Please answer yes or no.", "Yes"),
                        ("Is there a dog in this image? Please answer yes or no.", "No")]),
                      ("000000018918.jpg", draw(shape="square"),
                       [("Is there a green square in this image? Please answer yes or no.", "Yes"),
                        ("Is there a red circle in this image?  Please answer yes or no.", "No")])],
        "code_reasoning": [("0020.png", draw("print(1+1)"),
                            [("The output of the code is 2. Please answer yes or no.", "Yes"),
                             ("The output of the code is 3. Please answer yes or no.", "No")])],
    }
    for category, items in side_by_side.items():
        for name, image, qa in items:
            save(image, root / category / name)
            (root / category / Path(name).with_suffix(".txt").name).write_text(
                "".join(f"{q}\t{a}\n" for q, a in qa), encoding="utf-8")
    image = draw(shape="triangle", color="beige")
    save(image, root / "artwork" / "images" / "10002.jpg")
    (root / "artwork" / "questions_answers_YN").mkdir(parents=True, exist_ok=True)
    (root / "artwork" / "questions_answers_YN" / "10002.txt").write_text(
        "Is this artwork created by Vincent van Gogh? Please answer yes or no.\tNo\n"
        "Is this artwork a triangle on a beige background? Please answer yes or no.\tYes\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------- MM-Vet


def make_mmvet(out: Path) -> None:
    """mm-vet.json + images/v1_<i>.png."""
    items = {
        "v1_0": (draw("3 + 4 = ?"), ["ocr", "math"], "What is the answer to the equation?", "7"),
        "v1_1": (draw("EXIT", color="lightgreen"), ["ocr", "rec"], "What word is written on the sign?",
                 "EXIT<OR>exit"),
        "v1_2": (draw(shape="bars"), ["rec", "spat"], "How many bars are there and which one is the tallest?",
                 "4<AND>the third one"),
    }
    content = {}
    for key, (image, capability, question, answer) in items.items():
        save(image, out / "images" / f"{key}.png")
        content[key] = {"imagename": f"{key}.png", "capability": capability, "question": question, "answer": answer}
    write_json(out / "mm-vet.json", content)


# ------------------------------------------------------------------------------------------------ MMMU


def make_mmmu(out: Path) -> None:
    """MMMU/MMMU hub layout: <Subject>/validation-00000-of-00001.parquet with HF Image columns."""
    import datasets

    blank = {f"image_{k}": None for k in range(1, 8)}
    subjects = {
        "Art": [
            dict(id="validation_Art_1", question="<image 1> Which shape is drawn in the picture?",
                 options=str(["A circle", "A square", "A triangle", "A star"]), answer="C",
                 question_type="multiple-choice", img_type=str(["Paintings"]), subfield="Drawing",
                 images={"image_1": draw(shape="triangle")}),
            dict(id="validation_Art_2", question="Compare <image 1> and <image 2>. Which one shows a square?",
                 options=str(["<image 1>", "<image 2>"]), answer="B", question_type="multiple-choice",
                 img_type=str(["Diagrams"]), subfield="Design", images={"image_1": draw(shape="circle"),
                                                                         "image_2": draw(shape="square")}),
        ],
        "Math": [
            dict(id="validation_Math_1", question="<image 1> How many bars are in the chart?", options=str([]),
                 answer="4", question_type="open", img_type=str(["Plots and Charts"]), subfield="Statistics",
                 images={"image_1": draw(shape="bars")}),
            dict(id="validation_Math_15", question="<image 1> Give the ratio shown, as a fraction or a decimal.",
                 options=str([]), answer=str(["24/7", "3.429"]), question_type="open", img_type=str(["Tables"]),
                 subfield="Arithmetic", images={"image_1": draw("24 : 7")}),
        ],
    }
    features = datasets.Features({
        "id": datasets.Value("string"), "question": datasets.Value("string"), "options": datasets.Value("string"),
        "explanation": datasets.Value("string"),
        **{f"image_{k}": datasets.Image() for k in range(1, 8)},
        "img_type": datasets.Value("string"), "answer": datasets.Value("string"),
        "topic_difficulty": datasets.Value("string"), "question_type": datasets.Value("string"),
        "subfield": datasets.Value("string"),
    })
    for subject, items in subjects.items():
        rows = []
        for item in items:
            images = {**blank, **{k: {"bytes": png_bytes(v), "path": None} for k, v in item["images"].items()}}
            rows.append({"id": item["id"], "question": item["question"], "options": item["options"],
                         "explanation": "", **images, "img_type": item["img_type"], "answer": item["answer"],
                         "topic_difficulty": "Easy", "question_type": item["question_type"],
                         "subfield": item["subfield"]})
        table = datasets.Dataset.from_list(rows, features=features)
        (out / subject).mkdir(parents=True, exist_ok=True)
        table.to_parquet(str(out / subject / "validation-00000-of-00001.parquet"))


# ------------------------------------------------------------------------------------------- MathVista


def make_mathvista(out: Path) -> None:
    """testmini.json + query.json + images/<pid>.jpg (the official repo's data/ layout)."""
    problems = [
        dict(pid="1", question="What shape is drawn in orange?", choices=["circle", "square", "triangle", "star"],
             unit=None, precision=None, answer="triangle", question_type="multi_choice", answer_type="text",
             image=draw(shape="triangle"), meta=dict(category="general-vqa", task="figure question answering",
                                                     context="synthetic scene", grade="elementary school",
                                                     skills=["logical reasoning"], source="synthetic")),
        dict(pid="2", question="How many bars are in the chart?", choices=None, unit=None, precision=None,
             answer="4", question_type="free_form", answer_type="integer", image=draw(shape="bars"),
             meta=dict(category="math-targeted-vqa", task="figure question answering", context="bar chart",
                       grade="elementary school", skills=["arithmetic reasoning", "statistical reasoning"],
                       source="synthetic")),
        dict(pid="3", question="What is the length of the bar labelled in the picture?", choices=None, unit="cm",
             precision=1, answer="2.5", question_type="free_form", answer_type="float", image=draw("2.5 cm"),
             meta=dict(category="math-targeted-vqa", task="geometry problem solving", context="geometry diagram",
                       grade="high school", skills=["geometry reasoning", "algebraic reasoning"],
                       source="synthetic")),
        dict(pid="4", question="Between which two years does the line graph reach its maximum?", choices=None,
             unit=None, precision=None, answer="[2007, 2008]", question_type="free_form", answer_type="list",
             image=draw("2007-2008"), meta=dict(category="general-vqa", task="figure question answering",
                                                context="line plot", grade="daily life",
                                                skills=["statistical reasoning"], source="synthetic")),
    ]
    hints = {
        "text": "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
        "integer": "Hint: Please answer the question requiring an integer answer and provide the final value, "
                   "e.g., 1, 2, 3, at the end.",
        "float": "Hint: Please answer the question requiring a floating-point number with one decimal place and "
                 "provide the final value, e.g., 1.2, 1.3, 1.4, at the end.",
        "list": "Hint: Please answer the question requiring a Python list as an answer and provide the final list, "
                "e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.",
    }
    testmini, queries = {}, {}
    for p in problems:
        image = p["image"]
        save(image, out / "images" / f"{p['pid']}.jpg")
        metadata = {"split": "testmini", "language": "english", "img_width": image.width,
                    "img_height": image.height, **p["meta"]}
        testmini[p["pid"]] = {"question": p["question"], "image": f"images/{p['pid']}.jpg", "choices": p["choices"],
                              "unit": p["unit"], "precision": p["precision"], "answer": p["answer"],
                              "question_type": p["question_type"], "answer_type": p["answer_type"],
                              "pid": p["pid"], "metadata": metadata}
        query = f"{hints[p['answer_type']]}\nQuestion: {p['question']}"
        query += f" (Unit: {p['unit']})" if p["unit"] else ""
        if p["choices"]:
            query += "\nChoices:\n" + "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(p["choices"]))
        queries[p["pid"]] = query
    write_json(out / "testmini.json", testmini)
    write_json(out / "query.json", queries)


MAKERS = {"textvqa": make_textvqa, "mmbench": make_mmbench, "mme": make_mme, "mmvet": make_mmvet,
          "mmmu": make_mmmu, "mathvista": make_mathvista}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="write <out>/<benchmark>/ instead of tasks/<benchmark>/sample/")
    parser.add_argument("--only", nargs="*", choices=sorted(MAKERS), default=sorted(MAKERS))
    args = parser.parse_args(argv)
    for name in args.only:
        target = args.out / name if args.out else REPO_ROOT / "tasks" / name / "sample"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        MAKERS[name](target)
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        print(f"{name:10s} {target}  {size / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
