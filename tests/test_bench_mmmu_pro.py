"""MMMU-Pro (tasks/mmmu_pro): the scorer on generated outputs vs the official evaluate.py, the loaders,
the prompts and images per protocol."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path

from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module, get_task

mmmu_pro = benchmark_module("mmmu_pro", "scorer")
DIRECT = "Answer with the option letter from the given choices directly."
SETS = ["synthetic_standard10_direct", "synthetic_standard10_cot", "synthetic_vision_direct", "synthetic_vision_cot"]


def _expected() -> dict:
    return json.loads(conformance_path("mmmu_pro", "expected.json").read_text(encoding="utf-8"))["mmmu_pro_synthetic"]


def _rows(name: str) -> list[dict]:
    text = conformance_path("mmmu_pro", f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("name", SETS)
def test_outputs_score_as_the_official_script(name):
    """Per sample: the same letter (or the random draw where the official one draws); the subset accuracy
    equals the official one with both random sources seeded 0 and drawing in record order."""
    expected = _expected()[name]
    records = [mmmu_pro.process_result(r["id"], r["subject"], r["options"], r["answer"], r["response"])
               for r in _rows(name)]
    for record, official in zip(records, expected["per_sample"], strict=True):
        if official["random"]:
            assert record["parsed"] is None
        else:
            assert record["parsed"] == official["parsed"], record["doc_id"]
    scores = mmmu_pro.aggregate(records, seed=0)
    assert scores["n_random_fallback"] == expected["n_random_subset"]
    assert scores["accuracy"] == pytest.approx(expected["official_accuracy_subset_seed0"], abs=1e-12)
    hits = [official["if_right"] in (True, "True") for official in expected["per_sample"]]
    assert [scores["per_sample"][r["doc_id"]] for r in records] == [int(h) for h in hits]


def test_parser_rules():
    choices = list("ABCDEFGHIJ")
    index2ans = {c: f"option {c.lower()}" for c in choices}
    assert mmmu_pro.parse_multi_choice_response("so... Answer: (H)", choices, index2ans) == "H"
    assert mmmu_pro.parse_multi_choice_response("I pick (B) not (C)", choices, index2ans) == "C"
    assert mmmu_pro.parse_multi_choice_response("nothing here", choices, index2ans) is None


def test_options_must_be_a_list_literal():
    with pytest.raises(DataError, match="list literal"):
        mmmu_pro.process_result("x", "Art", "not a list", "A", "A")


def test_standard_prompts_and_images_per_protocol():
    task = get_task("mmmu_pro_standard")
    docs = {d["doc_id"]: d for d in task.load_sample()}
    assert len(docs) == 3
    doc = docs["test_Design_3"]
    mgm = task.doc_to_text(doc, "mgm")
    assert mgm.startswith("Which image shows a square?\nA. [image]\nB. [image]\nC. neither\n")
    assert mgm.endswith("J. unknown\n" + DIRECT)
    assert task.doc_to_text(doc, "lmms").endswith("A. <image 2>\nB. <image 1>\nC. neither\nD. both\nE. <image 3>"
                                                  "\nF. a circle\nG. a line\nH. none\nI. all\nJ. unknown\n\n" + DIRECT)
    mgm_images = task.doc_to_visual(doc, "mgm")  # occurrence order: image 2, image 1, image 3
    lmms_images = task.doc_to_visual(doc, "lmms")  # sorted: image 1, 2, 3
    assert len(mgm_images) == len(lmms_images) == 3
    assert mgm_images[0].tobytes() == lmms_images[1].tobytes() and mgm_images[1].tobytes() == lmms_images[0].tobytes()


def test_vision_prompt_sample_and_scoring():
    task = get_task("mmmu_pro_vision")
    docs = task.load_sample()
    assert task.doc_to_text(docs[0], "lmms") == DIRECT
    assert task.doc_to_text(docs[0], "mgm").startswith(DIRECT + " The last line of your response")
    assert task.doc_to_visual(docs[0], "mgm")[0].size == (320, 200)
    records = [task.process_result(d, f"Answer: {d['answer']}", "mgm") for d in docs]
    assert task.aggregate(records, "mgm")["accuracy"] == 100.0
