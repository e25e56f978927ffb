"""Concurrent prefetch of a sequential scorer's judge calls gives exactly the sequential result."""

from __future__ import annotations

from collections import defaultdict

import pytest
from fake_server import FakeChatServer

from mg_eval.judges import build_judge
from mg_eval.judges.prefetch import prefetch, score_with_judge
from mg_eval.tasks import benchmark_module

mmbench = benchmark_module("mmbench", "scorer")
mmvet = benchmark_module("mmvet", "scorer")

KEY_ENV = "MG_TEST_JUDGE_KEY"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-prefetch-test")
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def judge_for(server: FakeChatServer, cache_dir, spec: str):
    return build_judge(spec, base_url=server.base_url, api_key_env=KEY_ENV, cache_dir=cache_dir, max_retries=1,
                       backoff_base=0.01, timeout=2.0, max_concurrency=6)


class Grader:
    """MM-Vet stand-in: the n-th time a prompt is seen gives run n's grade; some answers need re-asking."""

    GRADES = {"a cat": ["1.0", "0.9"], "stop": ["0.5", "0.6"], "41": ["0.0", "0.1"], "Monet": ["0.0", "0.0"],
              "a spoon": ["0.4", "0.5"], "FLAKY": ["0.7", "0.8"], "NEVER": ["x", "x"], "DOWN": ["x", "x"]}

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.seen: dict[str, int] = defaultdict(int)
        self.order: dict[str, list[tuple[float, bool]]] = defaultdict(list)

    def __call__(self, body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        retry = prompt.endswith(mmvet.RETRY_SUFFIX)
        prediction = prompt.removesuffix(mmvet.RETRY_SUFFIX).rsplit("\n", 1)[-1].split(" | ")[2]
        self.order[prediction].append((body["temperature"], retry))
        if prediction == "DOWN":
            return {"status": 500}
        if prediction == "NEVER" or (prediction == "FLAKY" and not retry):
            return {"content": "Hmm", "sleep": self.latency}
        run = self.seen[prompt]
        self.seen[prompt] += 1
        return {"content": self.GRADES[prediction][run], "sleep": self.latency}


def mmvet_records() -> list[dict]:
    caps = [["rec"], ["ocr"], ["ocr", "math"], ["rec", "know"], ["rec", "spat"], ["rec"], ["ocr"], ["gen"]]
    return [mmvet.process_result(f"v1_{i}", prediction, f"question {i}", "gt", caps[i])
            for i, prediction in enumerate(Grader.GRADES)]


def test_mmvet_prefetch_equals_sequential(tmp_path) -> None:
    def score(judge):
        return mmvet.aggregate(mmvet_records(), judge=judge, num_runs=2)

    sequential_grader = Grader()
    with FakeChatServer(responder=sequential_grader, max_requests=200) as server:
        sequential = score(judge_for(server, tmp_path / "seq", "openai:gpt-4-0613"))
        n_sequential = len(server.requests)
    parallel_grader = Grader(latency=0.03)
    with FakeChatServer(responder=parallel_grader, max_requests=200) as server:
        judge = judge_for(server, tmp_path / "par", "openai:gpt-4-0613")
        parallel = score_with_judge(score, judge, progress=False)
        n_parallel = len(server.requests)
        peak = server.peak_in_flight
    assert parallel == sequential
    assert parallel["n_ungraded"] == 1 and parallel["n_unparsable"] == 2  # DOWN; NEVER in both runs
    assert parallel_grader.order == sequential_grader.order  # same chains, same temperatures
    assert peak > 1
    assert n_parallel == n_sequential  # the failed DOWN sample is not re-sent by the final pass
    stats = judge.stats.to_dict()
    assert stats["hits"] == 0 and stats["misses"] == stats["requests"] and stats["failures"] == 1
    assert stats["ungraded"] == 1  # the DOWN sample, from the scorer's n_ungraded


def test_mmbench_prefetch_keeps_the_seeded_random_fallback(tmp_path) -> None:
    options = {"A": "cat", "B": "dog", "C": "bird", "D": None}
    rotated = {"A": "dog", "B": "bird", "C": "cat", "D": None}
    rows = []
    for q in range(1, 6):
        unparsable = q % 2 == 0
        main_pred, copy_pred = ("no idea", "unsure") if unparsable else ("**A**", "**C**")
        rows.append(mmbench.process_result(f"m{q}", q, f"What animal {q}", options, main_pred, "A"))
        rows.append(mmbench.process_result(f"c{q}", q + 1_000_000, f"What animal {q}", rotated, copy_pred, "C"))

    def answer(body: dict) -> dict:
        prediction = body["messages"][-1]["content"].rsplit("Answer: ", 1)[1].split("\n")[0]
        return {"content": prediction.strip("*")} if prediction.startswith("**") else {"content": "maybe"}

    def score(judge):
        return mmbench.aggregate(rows, judge=judge)

    with FakeChatServer(responder=answer, max_requests=200) as server:
        sequential = score(judge_for(server, tmp_path / "seq", "openai:gpt-3.5-turbo-0613"))
        judge = judge_for(server, tmp_path / "par", "openai:gpt-3.5-turbo-0613")
        totals = prefetch(score, judge, progress=False)
        parallel = score(judge)
    assert parallel == sequential
    assert parallel["n_random_fallback"] >= 2 and parallel["n_ungraded"] == 0
    assert totals["requests"] == judge.stats.misses and totals["failures"] == 0 and totals["rounds"] >= 3


def test_without_cache_or_judge_it_is_a_plain_call(tmp_path) -> None:
    calls = []
    assert score_with_judge(lambda judge: calls.append(judge) or 7, None) == 7
    assert calls == [None]


def test_mathvista_extraction_on_real_problems(tmp_path, conformance) -> None:
    import json

    mathvista = benchmark_module("mathvista", "scorer")

    problems = json.loads((conformance("mathvista") / "testmini.json").read_text())
    pids = sorted(problems, key=int)[:40]
    records, given = [], []
    for n, pid in enumerate(pids):
        problem = problems[pid]
        said = problem["answer"] if n % 4 else "something else"  # every 4th answer is wrong
        problem = {**problem, "query": f"Question: {problem['question']}"}  # the repo file keeps queries apart
        records.append(mathvista.process_result(pid, f"Let me think. The answer is {said}.", problem))
        given.append(mathvista.process_result(pid, "", problem, extraction=str(said)))
    needs_judge = sum(record["extraction"] is None for record in records)

    def extractor(body: dict) -> dict:  # plays the extraction LLM: reads "The answer is X." back
        text = body["messages"][-1]["content"]
        response = text.rsplit("\n\nExtracted answer: ", 1)[0].rsplit("\n\n", 1)[1]
        return {"content": response.rsplit("The answer is ", 1)[1].rstrip("."), "sleep": 0.01}

    def score(judge):
        return mathvista.aggregate(records, judge=judge)

    with FakeChatServer(responder=extractor, max_requests=200) as server:
        sequential = score(judge_for(server, tmp_path / "seq", "openai:gpt-4-0613"))
        parallel = score_with_judge(score, judge_for(server, tmp_path / "par", "openai:gpt-4-0613"), progress=False)
        assert len(server.requests) == 2 * needs_judge and server.peak_in_flight > 1
    assert parallel == sequential and needs_judge == 40
    assert parallel["n_ungraded"] == 0 and parallel["n_judge_extractions"] == 40
    without_judge = mathvista.aggregate(given)  # the same extractions supplied up front
    assert parallel["accuracy"] == without_judge["accuracy"] and 70 <= parallel["accuracy"] < 100


def test_a_scorer_that_lets_judge_errors_escape_still_gets_its_answers(tmp_path) -> None:
    prompts = [f"prompt {i}" for i in range(5)]

    def score(judge):  # no error handling at all
        return [judge.complete(prompt, max_tokens=3) for prompt in prompts]

    with FakeChatServer(responder=lambda body: {"content": body["messages"][-1]["content"].upper()}) as server:
        judge = judge_for(server, tmp_path, "openai:gpt-4-0613")
        assert score_with_judge(score, judge, progress=False) == [p.upper() for p in prompts]
        assert len(server.requests) == 5
