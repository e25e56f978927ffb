"""MMStar (tasks/mmstar): matching and scores vs VLMEvalKit's own functions, the reader, the prompts."""

from __future__ import annotations

import json

import pytest
from conftest import conformance_path

from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module, get_task

mmstar = benchmark_module("mmstar", "scorer")
MC = "Answer with the option's letter from the given choices directly"


def _json(name: str) -> dict:
    return json.loads(conformance_path("mmstar", name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _json("cases.json")["mmstar_can_infer"], ids=lambda c: repr(c["response"])[:40])
def test_can_infer_matches_vlmevalkit(case):
    assert mmstar.can_infer(case["response"], case["options"]) == case["expected"]


class ScriptedJudge:
    """Replies in call order, per row as the conformance run scripted them; records the prompts."""

    name = "scripted"

    def __init__(self, replies: list[str]):
        self.replies, self.prompts = list(replies), []

    def complete(self, prompt, *, max_tokens, temperature=0.0, system=None):
        self.prompts.append(prompt)
        return self.replies.pop(0)


def _records(data: dict) -> list[dict]:
    records = []
    for row, prediction in zip(data["rows"], data["predictions"]):
        options = {k: row[k] for k in "ABCD" if k in row}
        records.append(mmstar.process_result(str(row["index"]), row["index"], row["question"], options,
                                             prediction, row["answer"], row["category"], row["l2-category"]))
    return records


def _check(scores: dict, official: dict) -> None:
    assert scores["accuracy"] == pytest.approx(100 * official["report_acc"]["Overall"], abs=1e-12)
    for name, value in {**scores["category"], **scores["l2_category"]}.items():
        assert value == pytest.approx(100 * official["report_acc"][name], abs=1e-12), name
    assert set(scores["category"]) | set(scores["l2_category"]) == set(official["report_acc"]) - {"split", "Overall"}
    assert [scores["per_sample"][str(i)] for i in range(len(official["hits"]))] == official["hits"]


def test_exact_matching_scores_match_vlmevalkit():
    data = _json("expected.json")["mmstar_vanilla"]
    _check(mmstar.aggregate(_records(data)), data["exact_matching"])


def test_judged_scores_and_prompts_match_vlmevalkit():
    """Each unmatched row: the judge's first reply is unparsable, the second names a letter (as scripted)."""
    data = _json("expected.json")["mmstar_vanilla"]
    official = data["scripted_judge"]
    records = _records(data)
    replies, expected_prompts = [], []
    for row, prompts in zip(data["rows"], official["prompts"]):
        if prompts:
            letters = [k for k in "ABCD" if k in row]
            replies += ["I am not sure.", letters[(row["index"] * 7) % len(letters)]]
            expected_prompts += prompts
    judge = ScriptedJudge(replies)
    scores = mmstar.aggregate(records, judge=judge)
    _check(scores, official)
    assert judge.prompts == expected_prompts and not judge.replies


def test_split_options_keeps_commas_inside_options():
    stem, options = mmstar.split_options("What is shown?\nOptions: A: A cat, sitting, B: Two dogs, C: 3, 4, and 5")
    assert stem == "What is shown?" and options == {"A": "A cat, sitting", "B": "Two dogs", "C": "3, 4, and 5"}
    with pytest.raises(DataError, match="expected"):
        mmstar.split_options("no options here")


def test_sample_reader_and_prompts():
    task = get_task("mmstar")
    docs = {d["doc_id"]: d for d in task.load_sample()}
    assert len(docs) == 4
    assert docs["0"]["question"] == "Which shape is in the image?\nOptions: A: circle, B: square, C: triangle, D: star"
    assert task.doc_to_text(docs["2"], "mgm") == (
        f"What is 2 + 3, as written on the card?\nA. 4\nB. 5, maybe\nC. 6\n{MC}.")
    assert task.doc_to_text(docs["1"], "lmms") == f"How many bars are there?\nOptions: A: 2, B: 3, C: 4, D: 5\n{MC}"
    records = [task.process_result(d, d["answer"], "mgm") for d in docs.values()]
    scores = task.aggregate(records, "mgm")
    assert scores["accuracy"] == 100.0 and scores["category"]["math"] == 100.0 and scores["n_unmatched"] == 0


def test_bad_answer_is_a_data_error():
    with pytest.raises(DataError, match="not one of the options"):
        mmstar.process_result("1", 1, "q", {"A": "x", "B": "y"}, "A", "E", "math", "geometry")
