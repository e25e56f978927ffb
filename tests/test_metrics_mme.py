"""MME scorer: 4-character parse, acc + acc+, totals on the official LaVIN predictions."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path

from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module

mme = benchmark_module("mme", "scorer")

CASES = conformance_path("mme")


@pytest.mark.parametrize("case", json.loads((CASES / "spec_response.json").read_text())["cases"])
def test_parse_raw_response(case):
    assert mme.parse_response(case["response"]) == case["expected"]


def _pair(category, image, answers, targets=("Yes", "No")):
    return [mme.process_result(f"{image}/{i}", category, image, target, answer)
            for i, (target, answer) in enumerate(zip(targets, answers))]


def test_acc_plus_needs_both_questions_right():
    records = _pair("color", "a.jpg", ["yes", "no"]) + _pair("color", "b.jpg", ["yes", "yes"])
    scores = mme.aggregate(records)
    category = scores["categories"]["color"]
    assert category["acc"] == 0.75 and category["acc_plus"] == 0.5
    assert scores["color"] == 125.0 and scores["perception_total"] == 125.0 and scores["cognition_total"] == 0


def test_other_answers_are_wrong_and_counted():
    scores = mme.aggregate(_pair("code_reasoning", "c.png", ["maybe", "No"]))
    assert scores["categories"]["code_reasoning"]["other_num"] == 1
    assert scores["cognition_total"] == 50.0
    assert "existence" in scores["missing_categories"]


def test_bad_inputs_are_named():
    with pytest.raises(DataError, match="unknown category"):
        mme.process_result("q1", "colour", "a.jpg", "Yes", "yes")
    with pytest.raises(DataError, match="yes/no"):
        mme.process_result("q1", "color", "a.jpg", "Maybe", "yes")


def test_lavin_totals_and_every_subtask(conformance):
    expected = json.loads((conformance("mme") / "expected.json").read_text())["mme_lavin"]
    records = []
    for category in mme.PERCEPTION + mme.COGNITION:
        lines = (conformance("mme") / "lavin_predictions" / f"{category}.txt").read_text().splitlines(True)
        for n, line in enumerate(lines):
            image, _, target, prediction = line.split("\t")
            records.append(mme.process_result(f"{category}/{n}", category, image, target, prediction))
    scores = mme.aggregate(records)
    for key, value in expected.items():
        assert scores[key] == value, key  # bit for bit
    assert round(scores["perception_total"], 2) == 963.61 and round(scores["cognition_total"], 2) == 249.64
