"""Judge cache, factory specs, accounting and the ungraded threshold."""

from __future__ import annotations

import json
import sqlite3

import pytest
from fake_server import FakeChatServer

from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges import (
    CachedJudge,
    JudgeRequest,
    JudgeStats,
    TooManyUngradedError,
    build_judge,
    check_ungraded,
    for_run,
    judge_report,
    paper_judge_spec,
    paper_judges,
)
from mg_eval.judges.cache import request_key

KEY = "sk-cache-test-KEY-987654321"


@pytest.fixture(autouse=True)
def _key_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_JUDGE_KEY", KEY)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def echo(body: dict) -> dict:
    """Answer = the prompt reversed + the temperature, so different requests get different answers."""
    return {"content": f"{body['messages'][-1]['content'][::-1]}@{body['temperature']}"}


def cached(server: FakeChatServer, cache_dir, spec: str = "openai:gpt-4-0613", **options):
    options = {"max_retries": 1, "timeout": 2.0, "backoff_base": 0.01, **options}
    return build_judge(spec, base_url=server.base_url, api_key_env="MG_TEST_JUDGE_KEY", cache_dir=cache_dir,
                       **options)


def test_second_pass_is_served_from_disk(tmp_path) -> None:
    requests = [JudgeRequest(f"question {i} | gt | pred | ", max_tokens=3) for i in range(20)]
    with FakeChatServer(responder=echo) as server:
        first = cached(server, tmp_path)
        answers = first.complete_many(requests, progress=False)
        assert len(server.requests) == 20
        second = cached(server, tmp_path)  # a new process would do the same: fresh objects, same file
        assert second.complete_many(requests, progress=False) == answers
        assert len(server.requests) == 20  # no new traffic
    assert first.stats.to_dict() | {"backend_seconds": 0} == {
        "requests": 20, "hits": 0, "misses": 20, "calls": 20, "retries": 0, "failures": 0, "ungraded": 0,
        "prompt_tokens": 220, "completion_tokens": 40, "backend_seconds": 0}
    assert (second.stats.requests, second.stats.hits, second.stats.misses, second.stats.calls) == (20, 20, 0, 0)


def test_key_covers_model_prompt_and_parameters(tmp_path) -> None:
    with FakeChatServer(responder=echo) as server:
        judge = cached(server, tmp_path)
        judge.complete("p", max_tokens=3)
        judge.complete("p", max_tokens=3)                        # hit
        judge.complete("p", max_tokens=4)                        # miss: max_tokens
        judge.complete("p", max_tokens=3, temperature=0.5)       # miss: temperature
        judge.complete("p", max_tokens=3, system="s")            # miss: system
        judge.complete("p ", max_tokens=3)                       # miss: the full prompt, whitespace included
        other = cached(server, tmp_path, spec="openai:gpt-4o-2024-11-20")
        other.complete("p", max_tokens=3)                        # miss: judge model
        assert len(server.requests) == 6
    assert (judge.stats.hits, judge.stats.misses) == (1, 5)
    rows = sqlite3.connect(tmp_path / "judge_cache.sqlite").execute("SELECT judge, request FROM completions")
    stored = [(judge_name, json.loads(request)) for judge_name, request in rows]
    assert {name for name, _ in stored} == {"openai:gpt-4-0613@127.0.0.1", "openai:gpt-4o-2024-11-20@127.0.0.1"}
    assert all(set(request) == {"judge", "prompt", "system", "max_tokens", "temperature", "run"}
               for _, request in stored)


def test_same_model_name_on_another_host_is_another_judge(tmp_path) -> None:
    with FakeChatServer(responder=echo) as server:
        here = cached(server, tmp_path)
        there = build_judge("openai:gpt-4-0613", base_url=server.base_url.replace("127.0.0.1", "localhost"),
                            api_key_env="MG_TEST_JUDGE_KEY", cache_dir=tmp_path)
        here.complete("p", max_tokens=3)
        there.complete("p", max_tokens=3)
        assert len(server.requests) == 2 and here.name == there.name == "openai:gpt-4-0613"
    assert there.stats.misses == 1 and len(there.cache) == 2


def test_independent_runs_do_not_share_answers(tmp_path) -> None:
    answers = iter(["0.5", "0.6", "0.7"])
    with FakeChatServer(responder=lambda body: {"content": next(answers)}) as server:
        judge = cached(server, tmp_path)
        assert for_run(judge, 0) is judge
        got = [for_run(judge, run).complete("same prompt", max_tokens=3) for run in range(3)]
        again = [for_run(judge, run).complete("same prompt", max_tokens=3) for run in range(3)]
    assert got == ["0.5", "0.6", "0.7"] and again == got
    assert judge.stats.hits == 3 and judge.stats.misses == 3


def test_failures_are_not_cached(tmp_path) -> None:
    with FakeChatServer(script=[{"status": 500}, {"status": 500}, {"content": "0.8"}]) as server:
        judge = cached(server, tmp_path)
        with pytest.raises(JudgeError):
            judge.complete("p", max_tokens=3)
        assert judge.complete("p", max_tokens=3) == "0.8"
    assert judge.stats.failures == 1 and judge.stats.misses == 2


def test_concurrent_writers(tmp_path) -> None:
    with FakeChatServer(responder=echo, max_requests=100) as server:
        judge = cached(server, tmp_path, max_concurrency=8)
        requests = [JudgeRequest(f"p{i}", max_tokens=3) for i in range(60)] * 2  # duplicates race too
        answers = judge.complete_many(requests, max_workers=8, progress=False)
    assert answers[:60] == answers[60:] == [f"p{i}"[::-1] + "@0.0" for i in range(60)]
    assert len(judge.cache) == 60 and server.refused == 0


def test_cache_dir_errors_are_clear(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with FakeChatServer() as server, pytest.raises(UserInputError, match="judge cache"):
        cached(server, blocker / "sub")


def test_specs_and_paper_defaults(tmp_path) -> None:
    assert paper_judges() == {"mmvet": "openai:gpt-4-0613", "mathvista": "openai:gpt-4-0613",
                            "mmbench": "openai:gpt-3.5-turbo-0613",
                            "mmstar": "openai:gpt-4o-mini",  # VLMEvalKit's default MCQ judge (tasks/mmstar)
                            "ai2d": "openai:gpt-4o-mini",  # VLMEvalKit's default MCQ and Y/N judge (run.py)
                            "hallusionbench": "openai:gpt-4o-mini"}
    assert paper_judge_spec("MM-Vet") == "openai:gpt-4-0613"
    assert paper_judge_spec("mmbench") == "openai:gpt-3.5-turbo-0613"
    assert paper_judge_spec("textvqa") is None
    assert build_judge("none") is None and build_judge("paper", benchmark="mme") is None
    with FakeChatServer() as server:
        judge = build_judge(None, benchmark="mmbench", base_url=server.base_url, api_key_env="MG_TEST_JUDGE_KEY",
                            cache_dir=tmp_path)
    assert isinstance(judge, CachedJudge) and judge.name == "openai:gpt-3.5-turbo-0613"
    for bad in ("gpt-4", "openai:", "vllm:foo", "none:x"):
        with pytest.raises(UserInputError, match="not understood"):
            build_judge(bad, cache_dir=tmp_path)
    with pytest.raises(UserInputError, match="base_url"):
        build_judge("azure:dep", cache_dir=tmp_path)
    with pytest.raises(UserInputError, match="benchmark"):
        build_judge(None)
    with pytest.raises(UserInputError, match="known: .*mathvista"):
        paper_judge_spec("vqav2")


def test_report_records_judge_cache_and_counts_without_key(tmp_path) -> None:
    with FakeChatServer(responder=echo) as server:
        judge = cached(server, tmp_path)
        judge.complete("p", max_tokens=3)
        judge.complete("p", max_tokens=3)
        judge.stats.add_ungraded(2)
        report = judge_report(judge)
    assert report["name"] == "openai:gpt-4-0613" and report["model"] == "gpt-4-0613"
    assert report["endpoint"] == server.root_url and report["api_key_env"] == "MG_TEST_JUDGE_KEY"
    assert report["cache"] == str(tmp_path / "judge_cache.sqlite")
    assert {k: report["stats"][k] for k in ("requests", "hits", "misses", "calls", "ungraded")} == {
        "requests": 2, "hits": 1, "misses": 1, "calls": 1, "ungraded": 2}
    assert KEY not in json.dumps(report) and KEY not in repr(judge)
    assert judge_report(None) == {"name": None}


def test_ungraded_threshold() -> None:
    check_ungraded(0, 218, 0.0, task="mmvet", judge_name="openai:gpt-4-0613")
    check_ungraded(10, 218, 0.05, task="mmvet", judge_name="openai:gpt-4-0613")   # 4.6% <= 5%
    with pytest.raises(TooManyUngradedError, match=r"mmvet: 11 of 218 samples \(5\.0%\).*openai:gpt-4-0613"):
        check_ungraded(11, 218, 0.05, task="mmvet", judge_name="openai:gpt-4-0613")
    with pytest.raises(UserInputError, match=r"no judge \(judge=none\)"):  # the CLI prints it cleanly
        check_ungraded(1, 1000, 0.0, task="mathvista_testmini", judge_name=None)
    with pytest.raises(UserInputError, match="outside"):
        check_ungraded(0, 10, 1.5, task="t", judge_name=None)


def test_stats_rejects_unknown_counter() -> None:
    stats = JudgeStats()
    stats.add(hits=2)
    with pytest.raises(AttributeError, match="no counter"):
        stats.add(hitz=1)
    assert stats.to_dict()["hits"] == 2


def test_cache_keys_are_those_existing_caches_hold(tmp_path) -> None:
    """Keys written before the HTTP client was shared with the openai backend (computed then): still the same."""
    with FakeChatServer(script=[{"content": "0.7"}]) as server:
        judge = cached(server, tmp_path)
        assert judge.identity == "openai:gpt-4-0613@127.0.0.1"
        assert judge.complete("Q | GT | PRED | ", max_tokens=3, system="be strict") == "0.7"
    (key,) = [row[0] for row in sqlite3.connect(tmp_path / "judge_cache.sqlite").execute("SELECT key FROM completions")]
    assert key == "e3fbd52dd17573a59fe92039c98fa9e5c56703584ce415e0de1f40164b4e6554"
    assert request_key(judge.identity, JudgeRequest("p", max_tokens=3), 2)[0] == \
        "d439801ffdbf5d9d84def2b4bceceea67a04fda53c3caf171f3ba7cb4d5f82bb"
