"""TextVQA scorer: normaliser quirks, soft scores, the 10-answer rule and aggregation."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path

from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module

textvqa = benchmark_module("textvqa", "scorer")
question_from_prompt = benchmark_module("textvqa", "predictions").question_from_prompt

CASES = conformance_path("textvqa")


def test_period_removal_is_capped_at_32():
    assert textvqa.normalize_answer("." * 40) == "." * 8
    assert textvqa.normalize_answer("5.") == "5"
    assert textvqa.normalize_answer("3.5") == "3.5"


@pytest.mark.parametrize("matches, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_score_by_number_of_matching_humans(matches, expected):
    answers = ["coke"] * matches + ["pepsi"] * (10 - matches)
    assert textvqa.score_prediction("Coke", answers) == pytest.approx(expected)


def test_hyphen_and_article_variants_count_as_one_answer():
    answers = ["coca cola"] * 3 + ["coca-cola"] * 2 + ["coke"] * 5
    assert textvqa.score_prediction("The Coca-Cola", answers) == 1.0


def test_ten_answers_required_unless_relaxed():
    with pytest.raises(DataError, match="exactly 10"):
        textvqa.score_prediction("a", ["a"] * 9)
    assert textvqa.score_prediction("yes", ["yes"] * 3, require_ten=False) == pytest.approx(2 / 3)


def test_aggregate_is_mean_times_100():
    records = [textvqa.process_result(str(i), pred, ["cat"] * 10) for i, pred in enumerate(["cat", "dog", "Cat."])]
    scores = textvqa.aggregate(records)
    assert scores["accuracy"] == pytest.approx(200 / 3)
    assert scores["n_samples"] == 3
    assert records[2]["normalized_prediction"] == "cat"


def test_aggregate_rejects_empty():
    with pytest.raises(DataError):
        textvqa.aggregate([])


@pytest.mark.parametrize("case", json.loads((CASES / "spec_llava_prompt.json").read_text())["cases"])
def test_llava_prompt_processor(case):
    assert question_from_prompt(case["prompt"]) == case["expected"]
