"""POPE (tasks/pope): scorer vs the official eval_pope.py outputs, the official-layout reader, the prompts."""

from __future__ import annotations

import json
import re

import pytest
from conftest import conformance_path

from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module, get_task

pope = benchmark_module("pope", "scorer")
official_data = benchmark_module("pope", "official_data")
SHORT = "\nAnswer the question using a single word or phrase."


def _json(name: str) -> dict:
    return json.loads(conformance_path("pope", name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _json("cases.json")["pope_parse"], ids=lambda c: repr(c["input"]))
def test_parse_matches_official(case):
    assert pope.parse_answer(case["input"]) == case["expected"]


@pytest.mark.parametrize("case", _json("expected.json")["pope_sets"], ids=lambda c: c["name"])
def test_metrics_match_official(case):
    parsed = [pope.parse_answer(r) for r in case["responses"]]
    assert parsed == case["parsed"]
    got = pope.confusion_metrics(parsed, case["labels"])
    if case["error"] is not None:  # the official function raises; we report the undefined numbers as None
        assert got["precision"] is None or got["f1"] is None
        return
    for key in ("tp", "fp", "tn", "fn", "accuracy", "precision", "recall", "f1", "yes_ratio"):
        assert got[key] == case[key], key


def _official_output() -> dict[str, dict[str, float]]:
    text = conformance_path("pope", "official_run", "official_output.txt").read_text(encoding="utf-8")
    out = {}
    for block in text.split("Category: ")[1:]:
        setting = block.split(",")[0]
        values = dict(re.findall(r"^(Accuracy|Precision|Recall|F1 score|Yes ratio): (\S+)$", block, re.M))
        out[setting] = {"accuracy": float(values["Accuracy"]), "precision": float(values["Precision"]),
                        "recall": float(values["Recall"]), "f1": float(values["F1 score"]),
                        "yes_ratio": float(values["Yes ratio"])}
    return out


def test_official_layout_end_to_end():
    """The reader on the official files + our records + aggregate = the official CLI's printout (x100)."""
    run = conformance_path("pope", "official_run")
    rows = official_data.read(run, "test")
    answers = [json.loads(line) for line in (run / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(answers) == 180
    records = [pope.process_result(row["id"], row["category"], row["answer"], answer["text"])
               for (row, _), answer in zip(rows, answers)]
    scores = pope.aggregate(records)
    expected = _official_output()
    assert set(expected) == set(pope.SETTINGS)
    for setting, numbers in expected.items():
        for metric, value in numbers.items():
            assert scores[f"{setting}_{metric}"] == pytest.approx(100 * value, abs=1e-12), (setting, metric)
    assert scores["f1"] == pytest.approx(sum(100 * n["f1"] for n in expected.values()) / 3, abs=1e-12)


def test_bad_label_and_category_are_data_errors():
    with pytest.raises(DataError, match="label must be yes/no"):
        pope.process_result("q1", "random", "maybe", "yes")
    with pytest.raises(DataError, match="unknown category"):
        pope.process_result("q1", "rare", "yes", "yes")


def test_sample_loads_in_hub_schema():
    docs = get_task("pope").load_sample()
    assert len(docs) == 12
    assert {d["category"] for d in docs} == set(pope.SETTINGS)
    assert docs[0]["doc_id"] == "adversarial/1" and docs[0]["answer"] == "yes"
    assert get_task("pope").doc_to_visual(docs[0])[0].size == (96, 64)


def test_prompts_per_protocol():
    task = get_task("pope")
    doc = {**task.load_sample()[0], "question": " Is there a circle in the image? "}
    assert task.doc_to_text(doc, "mgm") == " Is there a circle in the image? " + SHORT
    assert task.doc_to_text(doc, "lmms") == "Is there a circle in the image?" + SHORT
    assert task.generation_kwargs("mgm")["max_new_tokens"] == 128


def test_missing_question_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no POPE question file"):
        official_data.read(tmp_path, "test")


def test_mg_eval_score_on_the_official_layout_equals_the_official_cli(tmp_path, capsys):
    from mg_eval.cli.main import main
    from mg_eval.engine.results import read_results

    code = main(["score", str(conformance_path("pope", "official_run")), "--output", str(tmp_path),
                 "--model-name", "generated"])
    out = capsys.readouterr().out
    assert code == 0, out
    written = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("wrote ")]
    scores = read_results(written[0])["scores"]
    for setting, numbers in _official_output().items():
        for metric, value in numbers.items():
            assert scores[f"{setting}_{metric}"] == pytest.approx(100 * value, abs=1e-12), (setting, metric)
