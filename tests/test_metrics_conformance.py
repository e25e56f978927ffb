"""Every case of tasks/<benchmark>/conformance/cases.json: our scorers against the official functions' outputs."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path

from mg_eval.tasks import benchmark_module

mathvista = benchmark_module("mathvista", "scorer")
mme = benchmark_module("mme", "scorer")
mmmu = benchmark_module("mmmu", "scorer")
textvqa = benchmark_module("textvqa", "scorer")



def _cases(key: str) -> list:
    """The cases of ``key`` (its benchmark is the key's prefix); a missing file fails at collection."""
    cases_file = conformance_path(key.split("_")[0], "cases.json")
    cases = json.loads(cases_file.read_text(encoding="utf-8"))[key]
    return [pytest.param(case, id=f"{key}-{i}") for i, case in enumerate(cases)]


@pytest.mark.parametrize("case", _cases("textvqa_normalize"))
def test_textvqa_normalize(case):
    assert textvqa.normalize_answer(case["input"]) == case["expected"]


@pytest.mark.parametrize("case", _cases("textvqa_score"))
def test_textvqa_score(case):
    assert textvqa.score_prediction(case["prediction"], case["gt_answers"]) == case["expected_accuracy"]


@pytest.mark.parametrize("case", _cases("mme_parse"))
def test_mme_parse(case):
    assert mme.parse_pred_ans(case["input"]) == case["expected"]


@pytest.mark.parametrize("case", _cases("mmmu_parse_multi_choice"))
def test_mmmu_parse_multi_choice(case):
    assert mmmu.parse_multi_choice_response(case["response"], case["all_choices"], case["index2ans"]) == case["expected"]


@pytest.mark.parametrize("case", _cases("mmmu_parse_open"))
def test_mmmu_parse_open(case):
    assert sorted(str(value) for value in mmmu.parse_open_response(case["input"])) == case["expected"]


@pytest.mark.parametrize("case", _cases("mmmu_eval_open"))
def test_mmmu_eval_open(case):
    assert mmmu.eval_open(case["gt"], mmmu.parse_open_response(case["response"])) is case["expected"]


@pytest.mark.parametrize("case", _cases("mathvista_normalize"))
def test_mathvista_normalize(case):
    got = mathvista.normalize_extracted_answer(case["extraction"], case["choices"], case["question_type"],
                                               case["answer_type"], case["precision"])
    assert got == case["expected"]
