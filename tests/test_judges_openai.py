"""The chat-completions judge against a scripted local server: retries, backoff, limits, key hygiene."""

from __future__ import annotations

import logging
import time

import pytest
from fake_server import FakeChatServer

from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges import JudgeRequest, OpenAICompatJudge, build_judge, judge_report
from mg_eval.judges.chat_client import _parse_retry_after

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(autouse=True)
def _key_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_JUDGE_KEY", KEY)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def make_judge(server: FakeChatServer, **options) -> OpenAICompatJudge:
    options = {"timeout": 2.0, "max_retries": 3, "backoff_base": 0.02, "backoff_max": 0.2, "seed": 0, **options}
    return OpenAICompatJudge("gpt-4-0613", base_url=server.base_url, api_key_env="MG_TEST_JUDGE_KEY", **options)


def gaps(server: FakeChatServer) -> list[float]:
    times = [r.arrived for r in server.requests]
    return [b - a for a, b in zip(times, times[1:])]


def test_request_shape_and_answer() -> None:
    with FakeChatServer(script=[{"content": "0.7"}]) as server:
        judge = make_judge(server)
        assert judge.complete("Q | GT | PRED | ", max_tokens=3, system="be strict") == "0.7"
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {
        "model": "gpt-4-0613",
        "messages": [{"role": "system", "content": "be strict"}, {"role": "user", "content": "Q | GT | PRED | "}],
        "max_tokens": 3,
        "temperature": 0.0,
    }
    assert judge.name == "openai:gpt-4-0613"
    stats = judge.stats.to_dict()
    assert (stats["requests"], stats["calls"], stats["retries"], stats["failures"]) == (1, 1, 0, 0)
    assert (stats["prompt_tokens"], stats["completion_tokens"]) == (11, 2)


def test_429_honours_retry_after() -> None:
    with FakeChatServer(script=[{"status": 429, "retry_after": "0.3"}, {"content": "1.0"}]) as server:
        judge = make_judge(server)
        assert judge.complete("p", max_tokens=3) == "1.0"
    assert len(server.requests) == 2
    assert gaps(server)[0] >= 0.3  # backoff alone would be <= 0.02
    assert judge.stats.retries == 1 and judge.stats.calls == 2 and judge.stats.failures == 0


def test_5xx_exponential_backoff_with_jitter_bounds() -> None:
    script = [{"status": 500}, {"status": 502}, {"status": 503}, {"content": "0.5"}]
    with FakeChatServer(script=script) as server:
        judge = make_judge(server, backoff_base=0.1, backoff_max=10.0)
        assert judge.complete("p", max_tokens=3) == "0.5"
    observed = gaps(server)
    assert len(observed) == 3
    for k, gap in enumerate(observed):  # delay k in [0.5, 1] * 0.1 * 2**k, plus scheduling slack
        assert 0.05 * 2**k - 0.01 <= gap <= 0.1 * 2**k + 0.25, (k, gap)
    assert judge.stats.retries == 3


def test_backoff_is_capped() -> None:
    with FakeChatServer() as server:
        judge = make_judge(server, backoff_base=1.0, backoff_max=0.05)
    assert all(judge._backoff(k, None) <= 0.05 for k in range(10))
    assert judge._backoff(0, retry_after=0.4) >= 0.4


def test_timeout_is_retried() -> None:
    with FakeChatServer(script=[{"sleep": 0.8, "content": "late"}, {"content": "0.3"}]) as server:
        judge = make_judge(server, timeout=0.25)
        started = time.monotonic()
        assert judge.complete("p", max_tokens=3) == "0.3"
        assert time.monotonic() - started < 0.75  # did not wait for the slow answer
    assert len(server.requests) == 2 and judge.stats.retries == 1


def test_garbage_body_is_retried() -> None:
    with FakeChatServer(script=[{"raw": b"<html>oops"}, {"raw": b'{"choices": []}'}, {"content": "0.9"}]) as server:
        judge = make_judge(server)
        assert judge.complete("p", max_tokens=3) == "0.9"
    assert len(server.requests) == 3 and judge.stats.retries == 2


def test_persistent_failure_raises_after_max_retries() -> None:
    with FakeChatServer(script=[{"status": 500}] * 10) as server:
        judge = make_judge(server, max_retries=2)
        with pytest.raises(JudgeError, match=r"HTTP 500.*after 3 attempt"):
            judge.complete("p", max_tokens=3)
    assert len(server.requests) == 3
    assert judge.stats.failures == 1 and judge.stats.retries == 2


def test_client_error_is_not_retried() -> None:
    with FakeChatServer(script=[{"status": 400, "error": "context too long"}, {"content": "x"}]) as server:
        judge = make_judge(server)
        with pytest.raises(JudgeError, match="HTTP 400.*context too long"):
            judge.complete("p", max_tokens=3)
    assert len(server.requests) == 1


def test_missing_content_is_a_failure_not_an_empty_grade() -> None:
    with FakeChatServer(script=[{"content": None}]) as server:
        judge = make_judge(server)
        with pytest.raises(JudgeError, match="no text"):
            judge.complete("p", max_tokens=3)
    assert judge.stats.failures == 1


def test_rejected_key_aborts_and_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = [{"status": 500, "echo_key": True}, {"status": 401, "echo_key": True}]
    with FakeChatServer(script=script) as server:
        judge = make_judge(server)
        with pytest.raises(UserInputError) as info:
            judge.complete("p", max_tokens=3)
    message = str(info.value)
    assert "HTTP 401" in message and "$MG_TEST_JUDGE_KEY" in message and "[REDACTED]" in message
    assert len(server.requests) == 2  # the 500 was retried, the 401 was not
    texts = [message, repr(info.value), caplog.text, repr(judge), str(judge.describe()),
             str(judge_report(judge)), str(vars(judge))]
    assert "HTTP 500" in caplog.text
    for text in texts:
        assert KEY not in text


def test_key_not_in_failure_after_retries() -> None:
    with FakeChatServer(script=[{"status": 503, "echo_key": True}] * 3) as server:
        judge = make_judge(server, max_retries=2)
        with pytest.raises(JudgeError) as info:
            judge.complete("p", max_tokens=3)
    assert KEY not in str(info.value) and "[REDACTED]" in str(info.value)


def test_judge_is_not_picklable() -> None:
    import pickle

    with FakeChatServer() as server:
        judge = make_judge(server)
    with pytest.raises(TypeError, match="API key"):
        pickle.dumps(judge)


def test_concurrency_limit_is_shared_by_threads() -> None:
    with FakeChatServer(responder=lambda body: {"sleep": 0.15, "content": "0.1"}) as server:
        judge = make_judge(server, max_concurrency=2)
        requests = [JudgeRequest(f"p{i}", max_tokens=3) for i in range(6)]
        answers = judge.complete_many(requests, max_workers=6, progress=False)
    assert answers == ["0.1"] * 6
    assert server.peak_in_flight == 2


def test_complete_many_keeps_order_and_failures_visible() -> None:
    def responder(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        return {"status": 400} if prompt == "bad" else {"content": prompt.upper()}

    with FakeChatServer(responder=responder) as server:
        judge = make_judge(server, max_concurrency=4)
        requests = [JudgeRequest(p, max_tokens=3) for p in ["a", "bad", "c", "d"]]
        answers = judge.complete_many(requests, progress=False)
    assert answers[0] == "A" and answers[2:] == ["C", "D"]
    assert isinstance(answers[1], JudgeError)
    assert judge.stats.failures == 1 and judge.stats.requests == 4


def test_complete_many_stops_on_configuration_error() -> None:
    with FakeChatServer(responder=lambda body: {"status": 401}) as server:
        judge = make_judge(server)
        with pytest.raises(UserInputError, match="HTTP 401"):
            judge.complete_many([JudgeRequest(f"p{i}", max_tokens=3) for i in range(3)], progress=False)


def test_azure_style_url_and_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_AZURE_KEY", KEY)
    with FakeChatServer(script=[{"content": "B"}]) as server:
        judge = build_judge("azure:gpt35-deploy", base_url=server.root_url, api_key_env="MG_TEST_AZURE_KEY",
                            api_version="2024-02-01", use_cache=False)
        assert judge.complete("which option?", max_tokens=256) == "B"
    (request,) = server.requests
    assert request.path == "/openai/deployments/gpt35-deploy/chat/completions?api-version=2024-02-01"
    assert request.headers["api-key"] == KEY and "authorization" not in request.headers
    assert judge.name == "azure:gpt35-deploy"


def test_keyless_local_server_and_keyed_hosted_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MG_TEST_NO_KEY", raising=False)
    with FakeChatServer(script=[{"content": "ok"}]) as server:
        judge = OpenAICompatJudge("served-model", base_url=server.base_url, api_key_env="MG_TEST_NO_KEY")
        assert judge.complete("p", max_tokens=3) == "ok"
    assert "authorization" not in server.requests[0].headers
    with pytest.raises(UserInputError, match=r"\$MG_TEST_NO_KEY is not set"):
        OpenAICompatJudge("gpt-4-0613", api_key_env="MG_TEST_NO_KEY")


def test_bad_options_fail_early() -> None:
    with pytest.raises(UserInputError, match="http"):
        OpenAICompatJudge("m", base_url="localhost:8000/v1")
    with pytest.raises(UserInputError, match="max_concurrency"):
        OpenAICompatJudge("m", base_url="http://127.0.0.1:9/v1", max_concurrency=0)


def test_retry_after_formats() -> None:
    assert _parse_retry_after("2") == 2.0
    assert _parse_retry_after("0.5") == 0.5
    assert _parse_retry_after(None) is None and _parse_retry_after("soon") is None
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= _parse_retry_after(future) <= 31


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    for url in ("http://user:pa55word@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1?token=pa55word"):
        with pytest.raises(UserInputError, match="remove the user:password") as info:
            OpenAICompatJudge("m", base_url=url, api_key_env="MG_TEST_JUDGE_KEY")
        assert "pa55word" not in str(info.value)


def test_importing_the_judges_changes_no_global_state() -> None:
    import subprocess
    import sys

    code = ("import logging, os, random; env = dict(os.environ); handlers = list(logging.root.handlers); "
            "state = random.getstate(); import mg_eval.judges, mg_eval.judges.local, mg_eval.judges.prefetch; "
            "assert dict(os.environ) == env and logging.root.handlers == handlers and random.getstate() == state")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_an_outage_stops_the_retry_storm_and_recovery_restores_it(caplog: pytest.LogCaptureFixture) -> None:
    script = [{"status": 500}] * (3 + 3 + 1 + 1) + [{"content": "0.4"}] + [{"status": 500}] * 2 + [{"content": "ok"}]
    with FakeChatServer(script=script) as server:
        judge = make_judge(server, max_retries=2, outage_after=2, backoff_base=0.001)
        for _ in range(4):  # two full retry rounds, then one attempt each
            with pytest.raises(JudgeError):
                judge.complete("p", max_tokens=3)
        assert len(server.requests) == 3 + 3 + 1 + 1
        assert judge.complete("p", max_tokens=3) == "0.4"  # recovered: retries are back
        assert judge.complete("q", max_tokens=3) == "ok"  # after 2 retries
        assert len(server.requests) == 8 + 1 + 3
    assert judge.stats.failures == 4
    assert "2 requests in a row failed" in caplog.text and "retries restored" in caplog.text


def test_unresolvable_host_is_a_configuration_error() -> None:
    judge = OpenAICompatJudge("m", base_url="http://judge-host.invalid/v1", api_key_env="MG_TEST_JUDGE_KEY",
                              max_retries=3)
    started = time.monotonic()
    with pytest.raises(UserInputError, match="cannot resolve the host"):
        judge.complete("p", max_tokens=3)
    assert time.monotonic() - started < 20 and judge.stats.retries == 0
