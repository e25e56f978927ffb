"""The ``openai`` backend's generator against the scripted local server: request shape, images, decoding,
retries (429 / 500 / malformed / dropped), the response cache, the probe's error lines, key hygiene."""

from __future__ import annotations

import base64
import io
import socket
import sqlite3

import pytest
from fake_server import FakeChatServer, images_of, text_of, without_proxies
from PIL import Image

from mg_eval.errors import UserInputError
from mg_eval.judges.chat_client import ChatClient
from mg_eval.models.openai_chat import BackendRequestError, OpenAIChatGenerator, chat_request_key

KEY = "sk-test-BACKEND-SECRET-42"
GREEDY = {"max_new_tokens": 16, "do_sample": False, "temperature": 0, "top_p": None, "num_beams": 1}


@pytest.fixture(autouse=True)
def _key_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_BACKEND_KEY", KEY)
    without_proxies(monkeypatch)
    monkeypatch.setattr(ChatClient, "_backoff", lambda self, attempt, retry_after: 0.01)  # quick retries


def connect(server: FakeChatServer, tmp_path, **options) -> OpenAIChatGenerator:
    options = {"api_key_env": "MG_TEST_BACKEND_KEY", "cache_dir": tmp_path / "cache", "timeout": 2.0,
               "max_retries": 3, **options}
    return OpenAIChatGenerator.connect("served-vlm", server.base_url, **options)


def red_square() -> Image.Image:
    return Image.new("RGB", (12, 10), (200, 10, 10))


def test_request_carries_the_image_as_a_png_data_url_and_greedy_is_temperature_zero(tmp_path) -> None:
    with FakeChatServer(script=[{"content": "ok"}, {"content": "  A red square.  "}]) as server:
        generator = connect(server, tmp_path)
        batch = generator.prepare([red_square()], ["What is shown?"])
        assert generator.generate(batch, GREEDY) == ["A red square."]
    probe, request = server.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "served-vlm" and request.body["max_tokens"] == 16
    assert request.body["temperature"] == 0.0 and "top_p" not in request.body and "seed" not in request.body
    (url,) = images_of(request.body)
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (12, 10) and decoded.convert("RGB").getpixel((3, 3)) == (200, 10, 10)
    assert text_of(request.body) == "What is shown?"
    assert request.body["messages"][0]["content"][0]["type"] == "image_url"  # image first, then the text
    assert generator.render_prompt("What is shown?", has_image=True) == "<image>\nWhat is shown?"


def test_sampling_sends_temperature_top_p_and_a_per_sample_seed(tmp_path) -> None:
    sampling = {"max_new_tokens": 8, "do_sample": True, "temperature": 0.2, "top_p": 1.0, "num_beams": 1, "seed": 7}
    with FakeChatServer(responder=lambda body: {"content": "x"}) as server:
        generator = connect(server, tmp_path, use_cache=False)
        generator.generate(generator.prepare([None, None], ["q1", "q2"]), sampling)
        generator.generate(generator.prepare([None], ["q1"]), sampling)
    bodies = {text_of(r.body): r.body for r in server.requests[1:]}
    assert bodies["q1"]["temperature"] == 0.2 and bodies["q1"]["top_p"] == 1.0
    assert bodies["q1"]["seed"] != bodies["q2"]["seed"]
    q1_seeds = [r.body["seed"] for r in server.requests[1:] if text_of(r.body) == "q1"]
    assert len(q1_seeds) == 2 and q1_seeds[0] == q1_seeds[1]  # q1 alone = q1 in a batch


def test_same_question_on_another_image_gets_another_seed(tmp_path) -> None:
    sampling = {"max_new_tokens": 8, "do_sample": True, "temperature": 1.0, "top_p": None, "num_beams": 1, "seed": 7}
    with FakeChatServer(responder=lambda body: {"content": "x"}) as server:
        generator = connect(server, tmp_path, use_cache=False)
        generator.generate(generator.prepare([red_square(), None], ["q", "q"]), sampling)
    with_image, without = sorted(server.requests[1:], key=lambda r: len(images_of(r.body)), reverse=True)
    assert images_of(with_image.body) and not images_of(without.body)
    assert with_image.body["seed"] != without.body["seed"] and "top_p" not in with_image.body


@pytest.mark.parametrize("failure", [{"status": 429, "retry_after": "0"}, {"status": 500}, {"raw": b"<html>oops"},
                                     {"raw": b'{"choices": []}'}, {"drop": True}])
def test_transient_failures_are_retried(failure, tmp_path) -> None:
    with FakeChatServer(script=[{"content": "ok"}, failure, failure, {"content": "B"}]) as server:
        generator = connect(server, tmp_path)
        assert generator.generate(generator.prepare([red_square()], ["q"]), GREEDY) == ["B"]
    assert len(server.requests) == 4 and generator.stats.retries == 2


def test_a_request_failing_after_every_retry_is_one_error_and_answers_already_made_are_cached(tmp_path) -> None:
    def answer(body):
        return {"status": 500} if text_of(body) == "bad" else {"content": f"re: {text_of(body)}"}

    with FakeChatServer(responder=answer) as server:
        generator = connect(server, tmp_path, max_retries=1, max_concurrency=1)
        with pytest.raises(BackendRequestError, match=r"HTTP 500.*after 2 attempt.*rerun the same command"):
            generator.generate(generator.prepare([None, None], ["good", "bad"]), GREEDY)
        sent = len(server.requests)
        again = connect(server, tmp_path, max_retries=0)
        with pytest.raises(BackendRequestError):
            again.generate(again.prepare([None, None], ["good", "bad"]), GREEDY)
    resent = [text_of(r.body) for r in server.requests[sent + 1:]]  # after the second probe
    assert resent == ["bad"] and again.stats.hits == 1


def test_cache_hits_on_resume_and_the_key_is_never_stored(tmp_path) -> None:
    with FakeChatServer(responder=lambda body: {"content": f"answer to {text_of(body)}"}) as server:
        first = connect(server, tmp_path)
        batch = first.prepare([red_square(), None], ["one", "two"])
        answers = first.generate(batch, GREEDY)
        n_sent = len(server.requests)
        second = connect(server, tmp_path)
        assert second.generate(second.prepare([red_square(), None], ["one", "two"]), GREEDY) == answers
        assert len(server.requests) == n_sent + 1  # only the probe
        assert second.stats.hits == 2 and second.stats.misses == 0
        third = connect(server, tmp_path)
        third.generate(third.prepare([red_square()], ["one"]), {**GREEDY, "max_new_tokens": 17})  # another request
        assert third.stats.misses == 1
    cache_file = tmp_path / "cache" / "responses.sqlite"
    rows = sqlite3.connect(cache_file).execute("SELECT judge, request FROM completions").fetchall()
    assert {row[0] for row in rows} == {"openai:served-vlm@127.0.0.1"}
    assert all("base64" not in row[1] and '"sha256"' in row[1] for row in rows if "one" in row[1])
    for path in (tmp_path / "cache").iterdir():
        assert KEY.encode() not in path.read_bytes()
    assert KEY not in repr(first.info) and KEY not in repr(first.client)


def test_cache_key_covers_model_endpoint_image_and_decoding() -> None:
    def key(identity="openai:m@h", image="data:image/png;base64,AAAA", text="q", **params):
        messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}},
                                                 {"type": "text", "text": text}]}]
        return chat_request_key(identity, messages, {"max_tokens": 8, "temperature": 0.0, **params})[0]

    base = key()
    assert len({base, key(identity="openai:other@h"), key(identity="openai:m@other-host"),
                key(image="data:image/png;base64,AAAB"), key(text="q "), key(max_tokens=9),
                key(temperature=0.2, seed=1), key(temperature=0.2, seed=2)}) == 8
    assert key() == base


def test_an_endpoint_that_refuses_images_is_one_error_before_any_sample(tmp_path) -> None:
    with FakeChatServer(refuse_images=True) as server, pytest.raises(UserInputError) as info:
        connect(server, tmp_path)
    assert "refused a request with an image" in str(info.value) and "vision-language model" in str(info.value)
    assert len(server.requests) == 1


def test_an_unreachable_url_is_one_error(tmp_path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserInputError, match=r"cannot be reached.*--base-url"):
        OpenAIChatGenerator.connect("m", f"http://127.0.0.1:{port}/v1", cache_dir=tmp_path, timeout=2.0)


def test_a_named_key_variable_that_is_unset_is_one_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MG_TEST_UNSET_KEY", raising=False)
    with pytest.raises(UserInputError, match=r"\$MG_TEST_UNSET_KEY is not set.*--api-key-env"):
        OpenAIChatGenerator.connect("m", "http://127.0.0.1:9/v1", api_key_env="MG_TEST_UNSET_KEY", cache_dir=tmp_path)


def test_a_rejected_key_is_one_error_that_does_not_echo_it(tmp_path) -> None:
    with FakeChatServer(script=[{"status": 401, "echo_key": True}]) as server, pytest.raises(UserInputError) as info:
        connect(server, tmp_path)
    assert "rejected the API key" in str(info.value) and KEY not in str(info.value)
    assert "--judge" not in str(info.value)


def test_a_copy_for_dataloader_workers_holds_no_key(tmp_path) -> None:
    import pickle

    with FakeChatServer(script=[{"content": "ok"}]) as server:
        generator = connect(server, tmp_path)
    blob = pickle.dumps(generator)
    assert KEY.encode() not in blob
    copy = pickle.loads(blob)
    assert copy.client is None and copy.prepare([None], ["q"])["texts"] == ["q"]
