"""Scoring glue: each task's process_result + aggregate on its bundled sample with known responses.

The numbers follow from the official rules (docs/scoring.md) applied by hand to the sample.
"""

from __future__ import annotations

import pytest

from mg_eval.tasks import get_task


class ScriptedJudge:
    """A judge that answers from a function of the prompt and counts its calls."""

    name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def complete(self, prompt, *, max_tokens, temperature=0.0, system=None):
        self.calls += 1
        return self.answer(prompt)


def _score(name: str, responses: dict[str, str], protocol: str = "mgm", judge=None) -> dict:
    task = get_task(name)
    docs = task.load_sample()
    records = [task.process_result(doc, responses[doc["doc_id"]], protocol) for doc in docs]
    return task.aggregate(records, protocol, judge=judge)


def test_textvqa_vqa_accuracy():
    scores = _score("textvqa_val", {"34602": "Stop", "34603": "NASA logo", "34604": "2024", "34605": "navy"})
    # k matching humans: 8 -> 1.0, 3 -> 0.9, 9 -> 1.0, 1 -> 0.3
    assert scores["accuracy_fraction"] == pytest.approx((1.0 + 0.9 + 1.0 + 0.3) / 4)
    assert scores["n_samples"] == 4


def test_mme_acc_plus_per_subtask():
    task = get_task("mme")
    docs = task.load_sample()
    perfect = _score("mme", {d["doc_id"]: d["answer"] for d in docs})
    assert (perfect["perception_total"], perfect["cognition_total"]) == (400.0, 200.0)
    always_yes = _score("mme", {d["doc_id"]: "Yes" for d in docs}, protocol="lmms")
    assert always_yes["existence"] == 50.0 and always_yes["code_reasoning"] == 50.0
    assert always_yes["perception_total"] == 100.0


def test_mmbench_circular_eval_and_judge_fallback():
    docs = get_task("mmbench_en_dev").load_sample()
    right = {d["doc_id"]: d["answer"] for d in docs}
    assert _score("mmbench_en_dev", right)["accuracy"] == 100.0
    one_rotation_wrong = {**right, "2000000": "D" if right["2000000"] != "D" else "C"}
    assert _score("mmbench_en_dev", one_rotation_wrong)["accuracy"] == 50.0
    unparsable = {**right, "1000001": "I am not sure."}
    no_judge = _score("mmbench_en_dev", unparsable)
    assert (no_judge["n_ungraded"], no_judge["n_graded"], no_judge["accuracy"]) == (1, 1, 100.0)
    judge = ScriptedJudge(lambda prompt: right["1000001"])
    judged = _score("mmbench_en_dev", unparsable, judge=judge)
    assert (judged["n_ungraded"], judged["accuracy"]) == (0, 100.0) and judge.calls >= 1


def test_mmmu_list_answers_open_parsing_and_seeded_fallback():
    responses = {"validation_Art_1": "C", "validation_Art_2": "(B)", "validation_Math_1": "There are 4 bars.",
                 "validation_Math_15": "The ratio is 3.429"}
    scores = _score("mmmu_val", responses)
    assert scores["overall_acc"] == 1.0 and scores["n_random_fallback"] == 0
    fallback = {**responses, "validation_Art_1": "a triangle shape"}  # <= 5 tokens: no content match -> random
    first, second = _score("mmmu_val", fallback), _score("mmmu_val", fallback, protocol="lmms")
    assert first["n_random_fallback"] == 1
    assert first["overall_acc"] == second["overall_acc"]  # one random.Random(42), same order


def test_mathvista_rules_first_then_judge():
    responses = {"1": "triangle", "2": "4", "3": "2.5", "4": "It peaks between 2007 and 2008."}
    no_judge = _score("mathvista_testmini", responses)
    assert (no_judge["correct"], no_judge["total"], no_judge["n_ungraded"]) == (3, 3, 1)
    judge = ScriptedJudge(lambda prompt: "[2007, 2008]")
    judged = _score("mathvista_testmini", responses, judge=judge)
    assert (judged["accuracy"], judged["n_ungraded"], judge.calls) == (100.0, 0, 1)
    assert "Question: Between which two years" in judge_prompt_of(responses)


def judge_prompt_of(responses: dict[str, str]) -> str:
    seen = []
    _score("mathvista_testmini", responses, judge=ScriptedJudge(lambda p: seen.append(p) or "[2007, 2008]"))
    return seen[0]


def test_mmvet_needs_a_judge_and_reports_ungraded():
    responses = {"v1_0": "7", "v1_1": "EXIT", "v1_2": "There are 4 bars; the third is tallest."}
    no_judge = _score("mmvet", responses)
    assert no_judge["n_ungraded"] == 3 and no_judge["total"] is None
    judged = _score("mmvet", responses, judge=ScriptedJudge(lambda prompt: "0.5"))
    assert judged["total"] == 50.0 and judged["n_ungraded"] == 0
