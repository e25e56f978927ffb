"""The tasks end to end on real official files: load -> process_result -> aggregate == the official scores.

Real annotation files from ``tasks/<benchmark>/conformance/`` (no images there: each test draws a tiny placeholder image
per file name), real model outputs, and the scores the official scorers give (expected.json).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from mg_eval.tasks import benchmark_module, get_task

mathvista = benchmark_module("mathvista", "scorer")

PNG = io.BytesIO()
Image.new("RGB", (4, 4), "gray").save(PNG, format="PNG")
PLACEHOLDER = PNG.getvalue()


def _placeholder(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PLACEHOLDER)


def _expected(conformance, key: str) -> dict:
    return json.loads((conformance(key.split("_")[0]) / "expected.json").read_text())[key]


def test_mme_eval_tool_files_with_lavin_predictions(conformance, tmp_path):
    """The official eval_tool question files load (2,374 questions, 1,187 images) and LaVIN scores 963.61 / 249.64."""
    task = get_task("mme")
    tool = tmp_path / "Your_Results"
    predictions: dict[str, list[str]] = {}
    for source in sorted((conformance("mme") / "questions").glob("*.txt")):
        (tool / source.name).parent.mkdir(parents=True, exist_ok=True)
        (tool / source.name).write_text(source.read_text())
        for line in source.read_text().splitlines():
            _placeholder(tool / source.stem / line.split("\t")[0])
        lavin = (conformance("mme") / "lavin_predictions" / source.name).read_text().splitlines()
        predictions[source.stem] = [line.split("\t")[3] for line in lavin]
    docs = task.load(tool)
    assert len(docs) == 2374 and len({d["question_id"] for d in docs}) == 1187
    assert sum(d["category"] == "celebrity" for d in docs) == 340
    records = []
    for category, responses in predictions.items():
        category_docs = [d for d in docs if d["category"] == category]
        records += [task.process_result(d, r, "mgm") for d, r in zip(category_docs, responses, strict=True)]
    scores = task.aggregate(records, "mgm")
    expected = _expected(conformance, "mme_lavin")
    assert round(scores["perception_total"], 2) == 963.61 and round(scores["cognition_total"], 2) == 249.64
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-9), name


def test_mmmu_parquet_with_llava_outputs(conformance, tmp_path):
    """MMMU in the hub parquet layout (hub string answers, list answers as their repr) -> 0.3667 over 900."""
    import datasets

    answers = json.loads((conformance("mmmu") / "answer_dict_val.json").read_text())
    responses = {}
    for file in sorted((conformance("mmmu") / "llava1.5_13b_outputs").glob("*.json")):
        rows = []
        for item in json.loads(file.read_text()):
            gold = answers[item["id"]]["ground_truth"]
            multiple_choice = item["question_type"] == "multiple-choice"
            rows.append({"id": item["id"], "question": "<image 1> ?",
                         "options": str(list(item["index2ans"].values())) if multiple_choice else "[]",
                         "answer": str(gold), "question_type": item["question_type"],
                         "image_1": {"bytes": PLACEHOLDER, "path": None}})
            responses[item["id"]] = item["response"]
        table = datasets.Dataset.from_list(rows).cast_column("image_1", datasets.Image())
        (tmp_path / file.stem).mkdir()
        table.to_parquet(str(tmp_path / file.stem / "validation-00000-of-00001.parquet"))
    task = get_task("mmmu_val")
    docs = task.load(tmp_path)
    assert len(docs) == 900
    assert task.doc_to_target(next(d for d in docs if d["id"] == "validation_Math_15")) == ["24/7", "3.429"]
    scores = task.aggregate([task.process_result(d, responses[d["id"]], "mgm") for d in docs], "mgm")
    expected = _expected(conformance, "mmmu_llava1.5_13b")
    assert round(scores["overall_acc"], 4) == 0.3667 and scores["n_samples"] == 900
    assert scores["per_subject_acc"] == pytest.approx(expected["per_subject_acc"], abs=1e-12)


def test_mathvista_testmini_json_with_bard_outputs(conformance, tmp_path):
    """testmini.json loads (1,000 problems); rules first, the stored extractions as the judge -> 34.8."""
    source = conformance("mathvista") / "testmini.json"
    problems = json.loads(source.read_text())
    (tmp_path / "testmini.json").write_text(source.read_text())
    for problem in problems.values():
        _placeholder(tmp_path / problem["image"])
    outputs = json.loads((conformance("mathvista") / "output_bard.json").read_text())
    task = get_task("mathvista_testmini")
    docs = task.load(tmp_path)
    assert len(docs) == 1000
    records = [task.process_result(d, str(outputs[d["pid"]]["response"]), "mgm") for d in docs]
    # The judge answers with Bard's stored extraction for exactly that prompt (query + response).
    stored = {mathvista.build_extraction_prompt(r["query"], r["response"]): outputs[r["doc_id"]]["extraction"]
              for r in records}

    class StoredExtractions:
        name = "stored-bard-extractions"
        calls = 0

        def complete(self, prompt, *, max_tokens, temperature=0.0, system=None):
            self.calls += 1
            return stored[prompt]

    judge = StoredExtractions()
    scores = task.aggregate(records, "mgm", judge=judge)
    assert scores["accuracy"] == pytest.approx(_expected(conformance, "mathvista_bard")["accuracy"], abs=1e-9)
    assert scores["n_ungraded"] == 0 and judge.calls == 1000  # every Bard answer is verbose: no rule applies
