"""MMMU official outputs: the random fallback letters are drawn in file order, as ``main_parse_and_eval.py`` does.

The expectation is computed independently of ``mmmu.aggregate``: the official call sequence is replayed (subjects
in ``CAT_SHORT2LONG`` order, each file parsed front to back, one ``random.Random(42)`` shared by every
``parse_multi_choice_response`` call, drawing where the official code calls ``random.choice``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import conformance_path

from mg_eval.rescore import score_predictions
from mg_eval.tasks import benchmark_module

mmmu = benchmark_module("mmmu", "scorer")  # the official scorer of tasks/mmmu

UNPARSABLE = "hmm, hard to say"


def _official_replay(folder: Path) -> dict[str, float]:
    """Per-subject accuracy as the official flow computes it on ``folder``'s ``<Subject>.json`` files."""
    rng = random.Random(42)
    accs = {}
    for subject in mmmu.SUBJECTS:
        items = json.loads((folder / f"{subject}.json").read_text())
        correct = 0
        for item in items:  # file order
            if item["question_type"] == mmmu.MULTIPLE_CHOICE:
                pred = mmmu.parse_multi_choice_response(item["response"], item["all_choices"], item["index2ans"],
                                                        rng=rng)
                correct += mmmu.eval_multi_choice(item["answer"], pred)
            else:
                correct += mmmu.eval_open(item["answer"], mmmu.parse_open_response(item["response"]))
        accs[subject] = correct / len(items)
    return accs


@pytest.fixture()
def many_fallbacks(tmp_path) -> Path:
    """LLaVA-1.5-13B's official outputs with every third multiple-choice response made unparsable."""
    folder = tmp_path / "many_fallbacks"
    folder.mkdir()
    for file in sorted(conformance_path("mmmu", "llava1.5_13b_outputs").glob("*.json")):
        items = json.loads(file.read_text())
        for position, item in enumerate(items):
            if item["question_type"] == mmmu.MULTIPLE_CHOICE and position % 3 == 0:
                item["response"] = UNPARSABLE
        (folder / file.name).write_text(json.dumps(items))
    return folder


def _reordered(source: Path, target: Path, order: str) -> Path:
    target.mkdir()
    for file in source.glob("*.json"):
        items = json.loads(file.read_text())
        if order == "reversed":
            items.reverse()
        else:
            random.Random(file.stem).shuffle(items)
        (target / file.name).write_text(json.dumps(items))
    return target


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_fallbacks_are_drawn_in_file_order(many_fallbacks, tmp_path, order):
    folder = _reordered(many_fallbacks, tmp_path / order, order)
    result = score_predictions(folder, "mmmu-outputs")
    assert result.scores["n_random_fallback"] > 250
    expected = _official_replay(folder)
    assert result.scores["per_subject_acc"] == expected
    n = result.scores["per_subject_n"]
    assert result.scores["overall_acc"] == pytest.approx(sum(expected[s] * n[s] for s in expected) / sum(n.values()))
    # not vacuous: the question-number order (what the files held before reordering) draws differently
    by_number = _official_replay(many_fallbacks)
    assert sum(by_number[s] != expected[s] for s in expected) >= 5


def test_unmodified_file_still_gives_the_official_numbers():
    expected = json.loads(conformance_path("mmmu", "expected.json").read_text())["mmmu_llava1.5_13b"]
    folder = conformance_path("mmmu", "llava1.5_13b_outputs")
    result = score_predictions(folder, "mmmu-outputs")
    assert result.scores["per_subject_acc"] == expected["per_subject_acc"] == _official_replay(folder)
    assert result.scores["overall_acc"] == expected["overall_acc"]
