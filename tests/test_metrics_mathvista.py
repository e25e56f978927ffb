"""MathVista scorer: rule extraction, the judge step (official prompt), breakdowns, Bard 34.8."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path
from scorer_fakes import ScriptedJudge

from mg_eval.errors import DataError, JudgeError
from mg_eval.tasks import benchmark_module

mathvista = benchmark_module("mathvista", "scorer")

CASES = conformance_path("mathvista")
PROBLEM = {"query": "Hint: Please answer the question requiring an integer answer.\nQuestion: How many?",
           "question_type": "free_form", "answer_type": "integer", "choices": None, "precision": None,
           "answer": "3", "metadata": {"language": "english", "skills": ["arithmetic reasoning", "counting"],
                                       "task": "figure question answering"}}


@pytest.mark.parametrize("case", json.loads((CASES / "spec_rule_extract.json").read_text())["cases"])
def test_rule_shortcuts(case):
    got = mathvista.rule_extract(case["response"], case["question_type"], case["answer_type"], case["choices"])
    assert got == case["expected"]


def test_extraction_prompt_is_the_official_layout():
    prompt = mathvista.build_extraction_prompt("Q?", "It is 3.")
    assert prompt.startswith("Please read the following example.")
    assert prompt.endswith("Extracted answer: B\n\nQ?\n\nIt is 3.\n\nExtracted answer: ")
    assert "line  graph" in prompt and "is blue?\nChoices:\n(A) 3/11" in prompt


def test_without_judge_unextracted_samples_are_ungraded_not_wrong():
    records = [mathvista.process_result("1", "3", PROBLEM), mathvista.process_result("2", "There are 3.", PROBLEM)]
    scores = mathvista.aggregate(records)
    assert scores["n_ungraded"] == 1 and scores["total"] == 1 and scores["accuracy"] == 100.0


def test_judge_extracts_with_the_official_prompt_and_settings():
    judge = ScriptedJudge([" 3 "])
    records = [mathvista.process_result("2", "There are 3.", PROBLEM)]
    scores = mathvista.aggregate(records, judge=judge)
    assert scores["accuracy"] == 100.0 and scores["n_judge_extractions"] == 1
    call = judge.calls[0]
    assert call["prompt"] == mathvista.build_extraction_prompt(PROBLEM["query"], "There are 3.")
    assert call["temperature"] == 0.0 and call["max_tokens"] == 256
    assert scores["per_sample"]["2"] == {"extraction": "3", "prediction": "3", "true_false": True}


def test_judge_failure_is_counted():
    scores = mathvista.aggregate([mathvista.process_result("2", "many", PROBLEM)],
                                 judge=ScriptedJudge([JudgeError("down")]))
    assert scores["n_ungraded"] == 1 and scores["n_judge_errors"] == 1 and scores["accuracy"] is None


def test_breakdowns_count_each_skill():
    records = [mathvista.process_result("1", "3", PROBLEM), mathvista.process_result("2", "4", PROBLEM)]
    scores = mathvista.aggregate(records)
    assert scores["skills"]["counting"] == {"accuracy": 50.0, "correct": 1, "total": 2}
    assert scores["answer_type"]["integer"]["total"] == 2


def test_missing_fields_are_named():
    with pytest.raises(DataError, match="answer_type"):
        mathvista.process_result("9", "x", {"question_type": "free_form", "answer": "1"})


def test_bard_stored_extractions_give_34_8_and_every_breakdown(conformance):
    outputs = json.loads((conformance("mathvista") / "output_bard.json").read_text())
    official = json.loads((conformance("mathvista") / "scores_bard.json").read_text())
    records = [mathvista.process_result(pid, p["response"], p, extraction=p["extraction"]) for pid, p in outputs.items()]
    scores = mathvista.aggregate(records)
    assert (scores["correct"], scores["total"]) == (348, 1000)
    assert str(round(scores["accuracy"], 2)) == official["average"]["accuracy"] == "34.8"
    for key, table in official.items():
        if key == "average":
            continue
        for value, entry in table.items():
            mine = scores[key][value]
            assert (mine["correct"], mine["total"], f"{mine['accuracy']:.2f}") == (
                entry["correct"], entry["total"], entry["accuracy"]), (key, value)
