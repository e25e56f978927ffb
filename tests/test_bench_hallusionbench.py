"""HallusionBench (tasks/hallusionbench): yes/no extraction and aAcc / fAcc / qAcc vs VLMEvalKit's own
functions (exact matching and a scripted judge), the official table through `mg-eval score`, the reader."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path, score_with_cli
from scorer_fakes import ScriptedJudge

from mg_eval.errors import DataError
from mg_eval.rescore import detect_format
from mg_eval.tasks import benchmark_module, get_task

hb = benchmark_module("hallusionbench", "scorer")
DATA = json.loads(conformance_path("hallusionbench", "expected.json").read_text(encoding="utf-8"))
VANILLA = DATA["hallusion_vanilla"]
TABLE = conformance_path("hallusionbench", "generated_HallusionBench.xlsx")


@pytest.mark.parametrize("case", DATA["yorn_extraction"], ids=lambda c: repr(c["response"])[:30])
def test_extraction_matches_vlmevalkit(case):
    assert hb.extract_yes_no(case["response"]) == case["expected"]


def _scripted_judge() -> ScriptedJudge:
    """The conformance run's judge: unsure on the first (temperature 0) call, then Unknown / Yes / No by number."""
    def reply(prompt: str) -> str:
        number = int(prompt.rsplit("Question ", 1)[1].split(":")[0])
        if [call["prompt"] for call in judge.calls].count(prompt) == 1:
            return "I cannot tell."
        return "Unknown" if number % 5 == 0 else ("Yes" if number % 2 else "No")

    judge = ScriptedJudge(reply)
    return judge


def _records() -> list[dict]:
    return [hb.process_result(row["index"], row["index"], row["question"], prediction or "nan", row["answer"],
                              row["category"], row["l2-category"])
            for row, prediction in zip(VANILLA["rows"], VANILLA["predictions"])]


def _check(scores: dict, official: dict) -> None:
    rating = official["rating"]
    for name in ("aAcc", "fAcc", "qAcc"):
        assert scores[name] == pytest.approx(rating["Overall"][name], abs=1e-9), name
        for split in ("category", "l2_category"):
            for key, values in scores[split].items():
                assert values[name] == pytest.approx(rating[key][name], abs=1e-9), (key, name)
    assert set(scores["category"]) | set(scores["l2_category"]) == set(rating) - {"Overall"}
    assert scores["overall"] == pytest.approx(sum(rating["Overall"].values()) / 3, abs=1e-9)
    hits = [int(e == row["answer"]) for e, row in zip(official["extracted"], VANILLA["rows"])]
    assert [scores["per_sample"][row["index"]] for row in VANILLA["rows"]] == hits


def test_exact_matching_scores_match_vlmevalkit():
    records = _records()
    assert [r["prefetch"] or "Unknown" for r in records] == VANILLA["exact_matching"]["extracted"]
    _check(hb.aggregate(records), VANILLA["exact_matching"])


def test_judged_scores_and_prompts_match_vlmevalkit():
    judge = _scripted_judge()
    scores = hb.aggregate(_records(), judge=judge)
    _check(scores, VANILLA["scripted_judge"])
    prompts = [call["prompt"] for call in judge.calls]
    assert list(dict.fromkeys(prompts)) == VANILLA["scripted_judge"]["prompts"]  # what VLMEvalKit sent
    temperatures: dict[str, list[float]] = {}
    for call in judge.calls:
        temperatures.setdefault(call["prompt"], []).append(call["temperature"])
    assert {tuple(t) for t in temperatures.values()} == {(0.0, 0.5), (0.0, 0.5, 1.0, 1.5, 2.0)}  # 5 tries, then Unknown
    assert scores["n_judged_rows"] == len(VANILLA["scripted_judge"]["prompts"]) == scores["n_unmatched"]


def test_official_table_scores_through_the_cli_on_its_own_benchmark(tmp_path, capsys):
    assert detect_format(TABLE) == "hallusionbench-vlmevalkit"
    record = score_with_cli(capsys, TABLE, tmp_path)
    assert record["task"]["name"] == "hallusionbench" and record["judge"] is None
    _check(record["scores"], VANILLA["exact_matching"])


def test_sample_reader_and_scores():
    task = get_task("hallusionbench")
    docs = task.load_sample()
    assert len(docs) == 8 and docs[0]["doc_id"] == "VD_chart_1_0_0_0"
    assert task.doc_to_text(docs[0], "mgm") == task.doc_to_text(docs[0], "lmms") == docs[0]["question"]
    responses = ["Yes."] * 8  # wrong on the two 'No' questions of the edited chart / illusion / map
    scores = task.aggregate([task.process_result(d, r, "mgm") for d, r in zip(docs, responses)], "mgm")
    assert scores["aAcc"] == pytest.approx(100 * 5 / 8)
    assert scores["overall"] == pytest.approx((scores["aAcc"] + scores["fAcc"] + scores["qAcc"]) / 3)


def test_bad_rows_are_data_errors():
    with pytest.raises(DataError, match="not 'Yes' or 'No'"):
        hb.process_result("x", "VD_chart_1_0_0_0", "q", "yes", "maybe", "VD", "chart")
    with pytest.raises(DataError, match="expected '<category>"):
        hb.process_result("x", "VD_chart_0", "q", "yes", "Yes", "VD", "chart")
