"""OCRBench (tasks/ocrbench): the substring rules and scores vs VLMEvalKit's own OCRBench.evaluate, the official
prediction table through `mg-eval score`, the reader and the prompts."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path, score_with_cli

from mg_eval.errors import DataError
from mg_eval.rescore import detect_format
from mg_eval.tasks import benchmark_module, get_task

ocrbench = benchmark_module("ocrbench", "scorer")
official_data = benchmark_module("ocrbench", "official_data")
OFFICIAL = json.loads(conformance_path("ocrbench", "expected.json").read_text(encoding="utf-8"))["ocrbench_eval"]
TABLE = conformance_path("ocrbench", "generated_OCRBench.xlsx")


def _records() -> list[dict]:
    return [ocrbench.process_result(str(row["index"]), row["index"], row["category"],
                                    official_data.parse_answers(row["answer"], "case"),
                                    "nan" if prediction is None else prediction)
            for row, prediction in zip(OFFICIAL["rows"], OFFICIAL["predictions"])]


def _check(scores: dict) -> None:
    official = OFFICIAL["final_score_dict"]
    assert scores["final_score"] == official["Final Score"]
    assert scores["accuracy"] * len(OFFICIAL["rows"]) / 1000 == pytest.approx(official["Final Score Norm"])
    assert scores["component"] == {name: official[name] for name in ocrbench.COMPONENTS}
    assert [scores["per_sample"][str(row["index"])] for row in OFFICIAL["rows"]] == OFFICIAL["hits"]


def test_hits_and_scores_match_vlmevalkit():
    records = _records()
    assert [r["hit"] for r in records] == OFFICIAL["hits"]
    _check(ocrbench.aggregate(records))


def test_math_expression_rule_removes_spaces_and_keeps_case():
    math = ocrbench.MATH_EXPRESSION
    assert ocrbench.is_hit("x^{2}+1", ["x ^ { 2 } + 1"], math)
    assert not ocrbench.is_hit("X^{2}+1", ["x ^ { 2 } + 1"], math)
    assert ocrbench.is_hit("The word is STOP.", ["stop"], "Regular Text Recognition")
    assert not ocrbench.is_hit("s t o p", ["stop"], "Regular Text Recognition")


def test_official_table_scores_through_the_cli_on_its_own_benchmark(tmp_path, capsys):
    assert detect_format(TABLE) == "ocrbench-vlmevalkit"
    record = score_with_cli(capsys, TABLE, tmp_path)
    assert record["task"]["name"] == "ocrbench" and record["task"]["benchmark"] == "ocrbench"
    _check(record["scores"])


def test_sample_reader_and_prompts():
    task = get_task("ocrbench")
    docs = task.load_sample()
    assert len(docs) == 10 and {d["category"] for d in docs} == set(ocrbench.CATEGORIES)
    assert docs[6]["answers"] == ["Blue Cafe", "blue cafe"]
    assert task.doc_to_text(docs[0], "mgm") == "what is written in the image?"
    scores = task.aggregate([task.process_result(d, d["answers"][-1], "mgm") for d in docs], "mgm")
    assert scores["final_score"] == 10 and scores["accuracy"] == 100.0


def test_bad_answer_cell_and_category_are_data_errors():
    with pytest.raises(DataError, match="not a list literal"):
        official_data.parse_answers("['open", "OCRBench.tsv: row 2")
    with pytest.raises(DataError, match="unknown category"):
        ocrbench.process_result("1", 1, "Poetry", ["a"], "a")
