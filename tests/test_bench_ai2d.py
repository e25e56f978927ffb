"""AI2D (tasks/ai2d): VLMEvalKit AI2D_TEST scores (exact matching and a scripted judge) vs VLMEvalKit's own
ImageMCQDataset.evaluate, the official table through `mg-eval score`, the reader and the prompts."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import conformance_path, score_with_cli
from scorer_fakes import ScriptedJudge

from mg_eval.errors import DataError
from mg_eval.rescore import detect_format
from mg_eval.tasks import benchmark_module, get_task

ai2d = benchmark_module("ai2d", "scorer")
DATA = json.loads(conformance_path("ai2d", "expected.json").read_text(encoding="utf-8"))["ai2d_vanilla"]
TABLE = conformance_path("ai2d", "generated_AI2D_TEST.xlsx")
MC = "Answer with the option's letter from the given choices directly."


def _scripted_judge() -> ScriptedJudge:
    """The conformance run's judge: unsure on a prompt's first call, then a letter fixed by the question number."""
    def reply(prompt: str) -> str:
        if [call["prompt"] for call in judge.calls].count(prompt) == 1:
            return "I am not sure."
        number = int(prompt.rsplit("Question ", 1)[1].split(":")[0])
        letters = list(ai2d.options_of(DATA["rows"][number]))
        return letters[(number * 7) % len(letters)]

    judge = ScriptedJudge(reply)
    return judge


def _records() -> list[dict]:
    return [ai2d.process_result(str(row["index"]), row["index"], row["question"], ai2d.options_of(row),
                                prediction or "nan", row["answer"], row["category"])
            for row, prediction in zip(DATA["rows"], DATA["predictions"])]


def _check(scores: dict, official: dict) -> None:
    acc = official["report_acc"]
    assert scores["accuracy"] == pytest.approx(100 * acc["Overall"], abs=1e-12)
    assert set(scores["category"]) == set(acc) - {"split", "Overall"}
    for name, value in scores["category"].items():
        assert value == pytest.approx(100 * acc[name], abs=1e-12), name
    assert [scores["per_sample"][str(row["index"])] for row in DATA["rows"]] == official["hits"]


def test_exact_matching_scores_match_vlmevalkit():
    _check(ai2d.aggregate(_records()), DATA["exact_matching"])


def test_judged_scores_and_prompts_match_vlmevalkit():
    judge = _scripted_judge()
    scores = ai2d.aggregate(_records(), judge=judge)
    _check(scores, DATA["scripted_judge"])
    assert list(dict.fromkeys(call["prompt"] for call in judge.calls)) == DATA["scripted_judge"]["prompts"]


def test_official_table_scores_through_the_cli_on_its_own_benchmark(tmp_path, capsys):
    assert detect_format(TABLE) == "ai2d-vlmevalkit"
    record = score_with_cli(capsys, TABLE, tmp_path)
    assert record["task"]["name"] == "ai2d_test" and record["task"]["benchmark"] == "ai2d"
    _check(record["scores"], DATA["exact_matching"])


def test_a_table_without_the_ai2d_name_is_not_claimed(tmp_path):
    renamed = tmp_path / "model_predictions.xlsx"
    shutil.copy(TABLE, renamed)
    assert benchmark_module("ai2d", "predictions").detect(renamed) is False


def test_sample_reader_and_prompts():
    task = get_task("ai2d_test")
    docs = {d["doc_id"]: d for d in task.load_sample()}
    assert len(docs) == 6 and docs["1"]["C"] is None
    expected = f"What does the arrow point to?\nA. producer\nB. consumer\n{MC}"
    assert task.doc_to_text(docs["1"], "mgm") == task.doc_to_text(docs["1"], "lmms") == expected
    scores = task.aggregate([task.process_result(d, f"{d['answer']}.", "mgm") for d in docs.values()], "mgm")
    assert scores["accuracy"] == 100.0 and set(scores["category"]) == {"lifeCycles", "foodChainsWebs",
                                                                        "partsOfTheEarth"}


def test_bad_answer_is_a_data_error():
    with pytest.raises(DataError, match="not one of the options"):
        ai2d.process_result("1", 1, "q", {"A": "x", "B": "y"}, "A", "C", "volcano")
