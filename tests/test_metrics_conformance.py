"""Every case of ../shared/conformance/cases.json: our scorers against the official functions' outputs."""

from __future__ import annotations

import json

import pytest
from conftest import CONFORMANCE_DIR

from mg_eval.metrics import mathvista, mme, mmmu, textvqa

CASES_FILE = CONFORMANCE_DIR / "cases.json"  # parametrisation happens before fixtures exist


def _cases(key: str) -> list:
    if not CASES_FILE.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CASES_FILE} not found"))]
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))[key]
    return [pytest.param(case, id=f"{key}-{i}") for i, case in enumerate(cases)]


@pytest.fixture(autouse=True)
def _needs_conformance(conformance_dir):
    assert (conformance_dir / "cases.json").is_file()


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
