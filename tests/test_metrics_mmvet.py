"""MM-Vet scorer: the exact grader prompt, the retry schedule, and the official aggregation."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path
from scorer_fakes import ScriptedJudge

from mg_eval.errors import JudgeError
from mg_eval.tasks import benchmark_module

mmvet = benchmark_module("mmvet", "scorer")

CASES = json.loads(conformance_path("mmvet", "spec_parse_grade.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES)
def test_parse_grade(case):
    assert mmvet.parse_grade(case["content"]) == case["expected"]


def test_grader_prompt_layout():
    prompt = mmvet.build_grader_prompt("What is x?", "-1<AND>-5", "x = -1")
    assert prompt.startswith("Compare the ground truth and prediction from AI models")
    assert prompt.endswith("characteristics. | 1.0\n\nWhat is x? | -1 <AND> -5 | x = -1 | ")
    assert len(mmvet.GRADER_PROMPT) == 2290
    assert mmvet.build_grader_prompt("q", "a", "p", retry=True).endswith(
        "q | a | p | \nPredict the correctness of the answer (digit): ")


def test_retry_schedule_then_zero():
    judge = ScriptedJudge(["x"] * 6)
    grade = mmvet.grade_sample(judge, "q", "a", "p")
    assert grade.score == 0.0 and not grade.parsed and grade.n_calls == 6
    assert [call["temperature"] for call in judge.calls] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert all(call["max_tokens"] == 3 for call in judge.calls)
    assert not judge.calls[0]["prompt"].endswith("(digit): ") and judge.calls[1]["prompt"].endswith("(digit): ")


def test_second_try_parses():
    grade = mmvet.grade_sample(ScriptedJudge(["Correct", "0.8"]), "q", "a", "p")
    assert (grade.score, grade.n_calls, grade.parsed) == (0.8, 2, True)


def _records():
    caps = [["rec", "ocr"], ["rec"], ["know"], ["ocr", "rec"]]
    grades = [[1.0, 0.5], [0.5, 0.5], [0.4, 0.5], [0.6, 0.4]]
    return [mmvet.process_result(f"v1_{i}", "p", "q", "a", cap, grade) for i, (cap, grade) in enumerate(zip(caps, grades))]


def test_aggregation_matches_the_official_formulas():
    scores = mmvet.aggregate(_records(), num_runs=2)
    # run totals: (1+.5+.4+.6)/4*100 = 62.5 and (.5+.5+.5+.4)/4*100 = 47.5
    assert scores["runs"] == [62.5, 47.5] and scores["total"] == 55.0 and scores["std"] == 7.5
    # rec: run0 (1+.5+.6)/3 = 70, run1 (.5+.5+.4)/3 = 46.67 -> mean 58.33 -> 58.3
    assert scores["capabilities"] == {"rec": 58.3, "ocr": 62.5, "know": 45.0}
    assert scores["integrations"] == {"ocr_rec": 62.5, "rec": 50.0, "know": 45.0}
    assert scores["n_ungraded"] == 0 and scores["n_judge_calls"] == 0


def test_single_run_uses_first_grade_and_rounds_to_one_decimal():
    scores = mmvet.aggregate(_records(), num_runs=1)
    assert scores["total"] == 62.5 and scores["std"] == 0.0 and scores["capabilities"]["rec"] == 70.0


def test_missing_grades_without_judge_are_ungraded():
    records = _records() + [mmvet.process_result("v1_9", "p", "q", "a", "rec,spat")]
    scores = mmvet.aggregate(records, num_runs=1)
    assert scores["n_ungraded"] == 1 and scores["per_sample"]["v1_9"] is None and scores["total"] == 62.5


def test_judge_grades_the_rest_and_failures_are_counted():
    records = [mmvet.process_result("v1_0", "p", "q", "a", ["rec"]), mmvet.process_result("v1_1", "p", "q", "a", ["rec"])]
    scores = mmvet.aggregate(records, judge=ScriptedJudge(["0.5", JudgeError("down")]))
    assert scores["n_graded"] == 1 and scores["n_ungraded"] == 1 and scores["n_judge_errors"] == 1
    assert scores["total"] == 50.0
