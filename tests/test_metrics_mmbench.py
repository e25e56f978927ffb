"""MMBench scorer: can_infer vectors, circular groups, the judge fallback and its seeded random letter."""

from __future__ import annotations

import json
import random

import pytest
from conftest import conformance_path
from scorer_fakes import ScriptedJudge

from mg_eval.errors import DataError, JudgeError
from mg_eval.tasks import benchmark_module

mmbench = benchmark_module("mmbench", "scorer")

CASES = json.loads(conformance_path("mmbench", "spec_can_infer.json").read_text())
OPTIONS = {"A": "teddy bear", "B": "rabbit", "C": "cat", "D": "dog"}


@pytest.mark.parametrize("case", CASES["cases"])
def test_can_infer(case):
    assert mmbench.can_infer(case["answer"], CASES["options"]) == case["expected"]


def _rotations(index, predictions, answer="B", category="cat1", l2="l2a"):
    """A main question and its circular copies (options rotated, answers adjusted)."""
    letters = "ABCD"
    texts = [OPTIONS[letter] for letter in letters]
    records = []
    for k, prediction in enumerate(predictions):
        rotated = texts[k:] + texts[:k]
        options = dict(zip(letters, rotated))
        gold = letters[rotated.index(OPTIONS[answer])]
        records.append(mmbench.process_result(f"r{index + k * mmbench.CIRCULAR_OFFSET}",
                                              index + k * mmbench.CIRCULAR_OFFSET, "What is it", options,
                                              prediction, gold, category, l2))
    return records


def test_a_question_is_a_hit_only_if_every_rotation_is_right():
    right = _rotations(1, ["B", "A", "D", "C"])
    one_wrong = _rotations(2, ["B", "A", "D", "D"])
    scores = mmbench.aggregate(right + one_wrong)
    assert scores["accuracy"] == 50.0 and scores["n_questions"] == 2 and scores["n_rows"] == 8
    assert scores["per_sample"]["r1000001"] == 1 and scores["per_sample"]["r2"] == 0


def test_rule_mismatch_decides_before_any_judge_call():
    judge = ScriptedJudge([])
    scores = mmbench.aggregate(_rotations(3, ["no idea", "C", "D", "C"]), judge=judge)
    assert scores["accuracy"] == 0.0 and judge.calls == []


def test_without_judge_undecided_groups_are_ungraded():
    scores = mmbench.aggregate(_rotations(4, ["no idea", "A", "D", "C"]) + _rotations(5, ["B", "A", "D", "C"]))
    assert scores["n_ungraded"] == 1 and scores["n_graded"] == 1 and scores["accuracy"] == 100.0


def test_judge_gets_the_official_prompt_and_its_answer_is_parsed():
    judge = ScriptedJudge(["B"])
    scores = mmbench.aggregate(_rotations(6, ["something fluffy", "A", "D", "C"]), judge=judge)
    assert scores["accuracy"] == 100.0 and scores["n_judge_calls"] == 1
    prompt = judge.calls[0]["prompt"]
    assert prompt.endswith("Question: What is it?\nOptions: There are several options: \nA. teddy bear\nB. rabbit\n"
                           "C. cat\nD. dog\n\nAnswer: something fluffy\nYour output: ")
    assert judge.calls[0]["temperature"] == mmbench.JUDGE_TEMPERATURE


def test_three_unparsable_judge_answers_give_the_seeded_random_letter():
    judge = ScriptedJudge(["??", "hmm", "no idea"])
    scores = mmbench.aggregate(_rotations(7, ["something", "A", "D", "C"]), judge=judge)
    expected_letter = "ABCDE"[random.Random(2680).randint(0, 4)]
    assert scores["n_random_fallback"] == 1 and scores["n_judge_calls"] == 3
    assert scores["accuracy"] == (100.0 if expected_letter == "B" else 0.0)


def test_judge_error_leaves_the_group_ungraded():
    scores = mmbench.aggregate(_rotations(8, ["something", "A", "D", "C"]), judge=ScriptedJudge([JudgeError("x")]))
    assert scores["n_ungraded"] == 1 and scores["n_judge_errors"] == 1 and scores["accuracy"] is None


def test_breakdowns_by_category_and_l2():
    records = _rotations(1, ["B", "A", "D", "C"], category="x", l2="p") + _rotations(2, ["A"], category="y", l2="p")
    scores = mmbench.aggregate(records)
    assert scores["category"] == {"x": 100.0, "y": 0.0} and scores["l2_category"] == {"p": 50.0}


def test_copies_without_main_question_are_an_error():
    with pytest.raises(DataError, match="main question"):
        mmbench.aggregate(_rotations(9, ["B", "A"])[1:])
    with pytest.raises(DataError, match="answer"):
        mmbench.process_result("1", 1, "q", OPTIONS, "A", "Z")
