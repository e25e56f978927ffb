"""End to end: the MM-Vet grading loop and aggregation driven through the HTTP judge and its cache.

The scripted server plays GPT-4: it grades each prediction from a table, answers some requests with
429s, 500s and unparsable text, and the resulting grade file is aggregated both by the harness and by
an independent re-statement of the official ``mm-vet_evaluator.py`` aggregation.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from fake_server import FakeChatServer

from mg_eval.judges import TooManyUngradedError, build_judge, check_ungraded
from mg_eval.tasks import benchmark_module

mmvet = benchmark_module("mmvet", "scorer")

KEY = "sk-mmvet-e2e-KEY-5555"

# doc_id, capabilities, question, ground truth, prediction, grades the "GPT-4" gives in run 0 and run 1
SAMPLES = [
    ("v1_0", ["rec"], "What animal is this?", "cat", "a cat", ("1.0", "1.0")),
    ("v1_1", ["ocr"], "What is written on the sign?", "STOP", "stop", ("0.9", "0.8")),
    ("v1_2", ["ocr", "math"], "What is the total?", "42<OR>42.0", "41", ("0.0", "0.1")),
    ("v1_3", ["rec", "know"], "Who painted this?", "Van Gogh", "Monet", ("0.0", "0.0")),
    ("v1_4", ["rec", "spat"], "What is left of the cup?", "a spoon<AND>a fork", "a spoon", ("0.5", "0.4")),
    ("v1_5", ["ocr", "spat", "math"], "What is x?", "-1<AND>-5", "x = -1 or x = -5", ("1.0", "0.9")),
    ("v1_6", ["rec", "gen", "know"], "Explain the meme.", "Iceland is green", "It is about ice", ("0.3", "0.4")),
    ("v1_7", ["rec"], "Count the apples.", "3", "FLAKY", ("0.7", "0.6")),
    ("v1_8", ["ocr"], "What brand is it?", "Nike", "NEVER-PARSES", ("x", "x")),
]


def records() -> list[dict]:
    return [mmvet.process_result(doc_id, pred, question, gt, caps)
            for doc_id, caps, question, gt, pred, _ in SAMPLES]


class GPT4Stand_in:
    """Responder: grades from SAMPLES by prediction; the n-th time a prompt is seen -> run n's grade."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = defaultdict(int)
        self.temperatures: dict[str, list[float]] = defaultdict(list)
        self.by_prediction = {pred: grades for *_, pred, grades in SAMPLES}

    def __call__(self, body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        retry = prompt.endswith(mmvet.RETRY_SUFFIX)
        query_row = prompt.removesuffix(mmvet.RETRY_SUFFIX).rsplit("\n", 1)[-1]
        prediction = query_row.split(" | ")[2]
        self.temperatures[prediction].append(body["temperature"])
        if prediction == "NEVER-PARSES":
            return {"content": "I cannot"}
        if prediction == "FLAKY" and not retry:
            return {"content": "Sure, the"}  # unparsable: the grader re-asks with the digit suffix
        run = self.seen[prompt]
        self.seen[prompt] += 1
        return {"content": f"{self.by_prediction[prediction][run]} because"}


def official_aggregation(grade_file: dict[str, dict], metadata: dict[str, list[str]], decimal_places: int = 1):
    """The official mm-vet_evaluator.py aggregation, restated: per run, capability = sum/count*100,
    total = sum/len*100; reported = mean over runs (pandas/numpy rounding), std = population std."""
    num_run = len(next(iter(grade_file.values()))["score"])
    caps = sorted({c for cs in metadata.values() for c in cs})
    totals, per_cap = [], defaultdict(list)
    for run in range(num_run):
        total = sum(entry["score"][run] for entry in grade_file.values())
        totals.append(total / len(grade_file) * 100)
        for cap in caps:
            ids = [i for i in grade_file if cap in metadata[i]]
            per_cap[cap].append(sum(grade_file[i]["score"][run] for i in ids) / len(ids) * 100)
    return {
        "total": float(np.round(np.mean(totals), decimal_places)),
        "std": float(np.round(np.std(totals), decimal_places)),
        "runs": [float(np.round(t, decimal_places)) for t in totals],
        "capabilities": {cap: float(np.round(np.mean(v), decimal_places)) for cap, v in per_cap.items()},
    }


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_JUDGE_KEY", KEY)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def judge_for(server: FakeChatServer, cache_dir):
    return build_judge("paper", benchmark="mmvet", base_url=server.base_url, api_key_env="MG_TEST_JUDGE_KEY",
                       cache_dir=cache_dir, max_retries=3, backoff_base=0.01, timeout=2.0, max_concurrency=4)


def test_two_run_grading_matches_official_aggregation_and_rescoring_is_free(tmp_path) -> None:
    gpt4 = GPT4Stand_in()
    with FakeChatServer(responder=gpt4, script=[{"status": 429, "retry_after": "0.05"}, {"status": 500}],
                        max_requests=100) as server:
        judge = judge_for(server, tmp_path)
        assert judge.name == "openai:gpt-4-0613"
        result = mmvet.aggregate(records(), judge=judge, num_runs=2)
        n_requests = len(server.requests)
        # the wire format: one user message, the official prompt byte for byte, max_tokens 3
        first = server.requests[2].body
        assert first["messages"] == [{"role": "user", "content": mmvet.build_grader_prompt(
            "What animal is this?", "cat", "a cat")}]
        assert first["messages"][0]["content"].endswith("\n\nWhat animal is this? | cat | a cat | ")
        assert first["max_tokens"] == 3 and first["temperature"] == 0.0
        again = mmvet.aggregate(records(), judge=judge_for(server, tmp_path), num_runs=2)
        assert len(server.requests) == n_requests  # re-scoring from the cache sends nothing
    assert again == result

    # retry schedule seen on the wire: never-parsable sample per run = 6 calls at rising temperature
    assert gpt4.temperatures["NEVER-PARSES"] == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0] * 2
    assert gpt4.temperatures["FLAKY"] == [0.0, 0.0] * 2
    assert result["n_ungraded"] == 0 and result["n_unparsable"] == 2 and result["n_judge_errors"] == 0
    assert judge.stats.retries == 2 and judge.stats.failures == 0

    expected_grades = {doc_id: [float(g) if g != "x" else 0.0 for g in grades]
                       for doc_id, *_, grades in SAMPLES}
    assert result["per_sample"] == expected_grades
    grade_file = {doc_id: {"model": ["gpt-4-0613"] * 2, "content": [], "score": scores}
                  for doc_id, scores in result["per_sample"].items()}
    metadata = {doc_id: caps for doc_id, caps, *_ in SAMPLES}
    official = official_aggregation(grade_file, metadata)
    assert result["total"] == official["total"] and result["std"] == official["std"]
    assert result["runs"] == official["runs"]
    assert result["capabilities"] == official["capabilities"]
    assert (result["total"], result["runs"], result["std"]) == (47.8, [48.9, 46.7], 1.1)


def test_official_toy_grade_file() -> None:
    """The official grader's aggregation run offline on a toy (docs/scoring.md#mm-vet-tasksmmvetscorerpy): 4 items, a pre-filled 2-run grade file -> total 61.2 (runs 62.5, 60.0), std 1.2."""
    grades = {"v1_0": [1.0, 1.0], "v1_1": [0.5, 0.4], "v1_2": [0.5, 0.5], "v1_3": [0.5, 0.5]}
    caps = {"v1_0": ["rec"], "v1_1": ["ocr"], "v1_2": ["rec", "ocr"], "v1_3": ["math"]}
    recs = [mmvet.process_result(i, "p", "q", "a", caps[i], grades=grades[i]) for i in grades]
    result = mmvet.aggregate(recs, judge=None, num_runs=2)
    assert (result["total"], result["runs"], result["std"]) == (61.2, [62.5, 60.0], 1.2)
    official = official_aggregation({i: {"score": g} for i, g in grades.items()}, caps)
    assert result["capabilities"] == official["capabilities"] and result["total"] == official["total"]


def test_judge_outage_is_counted_and_fails_the_threshold(tmp_path) -> None:
    def responder(body: dict) -> dict:
        prediction = body["messages"][-1]["content"].rsplit("\n", 1)[-1].split(" | ")[2]
        return {"status": 503} if prediction == "Monet" else {"content": "0.5"}

    with FakeChatServer(responder=responder, max_requests=100) as server:
        judge = judge_for(server, tmp_path)
        result = mmvet.aggregate(records()[:5], judge=judge, num_runs=1)
    assert result["n_ungraded"] == 1 and result["n_judge_errors"] == 1 and result["per_sample"]["v1_3"] is None
    assert result["total"] == 50.0  # the ungraded sample is left out, not scored 0
    assert judge.stats.failures == 1 and judge.stats.retries == 3
    check_ungraded(result["n_ungraded"], result["n_samples"], 0.2, task="mmvet", judge_name=judge.name)
    with pytest.raises(TooManyUngradedError, match="1 of 5 samples"):
        check_ungraded(result["n_ungraded"], result["n_samples"], 0.1, task="mmvet", judge_name=judge.name)


def test_no_judge_counts_every_sample_as_ungraded() -> None:
    result = mmvet.aggregate(records(), judge=build_judge("none"), num_runs=1)
    assert result["n_ungraded"] == len(SAMPLES) and result["total"] is None
