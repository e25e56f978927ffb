"""MMMU scorer: random fallback seeded and ordered as the official flow, per-subject and domain scores."""

from __future__ import annotations

import json
import random

import pytest
from conftest import conformance_path

from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module

mmmu = benchmark_module("mmmu", "scorer")

CASES = conformance_path("mmmu")
RANDOM_CASES = json.loads((CASES / "spec_multi_choice_random.json").read_text())
CHOICES = ["A", "B", "C", "D"]
OPTIONS = {"A": "dog", "B": "cat", "C": "bird", "D": "fish"}


@pytest.mark.parametrize("response", RANDOM_CASES["cases"])
def test_unparsable_answers_are_left_for_the_seeded_draw(response):
    parsed = mmmu.parse_multi_choice_response(response, RANDOM_CASES["all_choices"], RANDOM_CASES["index2ans"])
    assert parsed is None
    record = mmmu.process_result("validation_Art_1", "multiple-choice", response, "B",
                                 RANDOM_CASES["all_choices"], RANDOM_CASES["index2ans"])
    assert record["random_fallback"] is True


def _mc(subject, n, response, answer="A"):
    return mmmu.process_result(f"validation_{subject}_{n}", "multiple-choice", response, answer, CHOICES, OPTIONS)


def test_draws_follow_the_official_subject_order_not_the_record_order():
    # two unparsable answers in two subjects, given in reverse of the official order
    records = [_mc("Sociology", 1, "hmm"), _mc("Accounting", 1, "hmm")]
    rng = random.Random(42)
    first, second = rng.choice(CHOICES), rng.choice(CHOICES)  # Accounting draws first
    scores = mmmu.aggregate(records)
    assert scores["per_sample"]["validation_Accounting_1"]["pred"] == first
    assert scores["per_sample"]["validation_Sociology_1"]["pred"] == second
    assert scores["n_random_fallback"] == 2


def test_draws_follow_the_record_order_within_a_subject():
    # as main_parse_and_eval.py, which draws while parsing each output.json front to back (file order)
    records = [_mc("Art", i, "hmm") for i in range(1, 12)]
    for ordered in (records, list(reversed(records))):
        rng = random.Random(42)
        expected = {record["doc_id"]: rng.choice(CHOICES) for record in ordered}
        per_sample = mmmu.aggregate(ordered)["per_sample"]
        assert {doc_id: detail["pred"] for doc_id, detail in per_sample.items()} == expected
    forward, backward = (mmmu.aggregate(r)["per_sample"] for r in (records, list(reversed(records))))
    assert forward != backward  # the check above is not vacuous: order matters


def test_seed_changes_only_the_fallbacks():
    records = [_mc("Art", i, "hmm", answer="B") for i in range(1, 30)] + [_mc("Art", 30, "(A)")]
    by_seed = {seed: mmmu.aggregate(records, seed=seed)["per_subject_acc"]["Art"] for seed in (42, 7)}
    assert by_seed[42] != by_seed[7]
    assert all(mmmu.aggregate(records, seed=seed)["per_sample"]["validation_Art_30"]["correct"] for seed in (42, 7))


def test_open_questions_use_candidate_lists_and_real_gold_lists():
    records = [
        mmmu.process_result("validation_Math_15", "open", "The speed is 3.429", ["24/7", "3.429"]),
        mmmu.process_result("validation_Math_16", "open", "The speed is 3.429", "['24/7', '3.429']"),
    ]
    scores = mmmu.aggregate(records)
    assert [scores["per_sample"][r["doc_id"]]["correct"] for r in records] == [True, False]
    assert scores["overall_acc"] == 0.5 and scores["per_domain_acc"] == {"Science": 0.5}


def test_bad_ids_and_missing_options_are_errors():
    with pytest.raises(DataError, match="Subject"):
        mmmu.process_result("validation_Cooking_1", "open", "x", "y")
    with pytest.raises(DataError, match="all_choices"):
        mmmu.process_result("validation_Art_1", "multiple-choice", "A", "A")


def test_llava_13b_outputs_reproduce_the_official_scores(conformance):
    expected = json.loads((conformance("mmmu") / "expected.json").read_text())["mmmu_llava1.5_13b"]
    records = []
    for subject in mmmu.SUBJECTS:
        for item in json.loads((conformance("mmmu") / "llava1.5_13b_outputs" / f"{subject}.json").read_text()):
            records.append(mmmu.process_result(item["id"], item["question_type"], item["response"], item["answer"],
                                               item.get("all_choices"), item.get("index2ans")))
    scores = mmmu.aggregate(records)
    assert scores["overall_acc"] == expected["overall_acc"]
    assert scores["per_subject_acc"] == expected["per_subject_acc"]
    assert scores["n_samples"] == expected["num_examples"] == 900
    assert scores["n_random_fallback"] == 2
    assert round(scores["overall_acc"], 4) == 0.3667
