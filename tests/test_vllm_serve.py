"""``vllm serve`` on a tiny MGM checkpoint (localhost only, bounded in time): an OpenAI-style chat request with a
base64 image gets the same text as vLLM's offline engine given the same messages (and the official prompt:
the chat template renders ``MGMProcessor.render_prompt``'s text). Runs only where vLLM is installed."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from vllm_helpers import NEEDS_VLLM, tiny_vllm_checkpoint

pytestmark = NEEDS_VLLM
QUESTION = "What is in the picture?"
MAX_TOKENS = 16
START_TIMEOUT_S = 420


def _image_png() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (80, 60))
    image.putdata([((x * 7) % 256, (y * 11) % 256, ((x + y) * 5) % 256) for y in range(60) for x in range(80)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _messages(png: bytes) -> list[dict]:
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": QUESTION}]}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _offline_answer(checkpoint: Path, template: Path, messages: list[dict], tmp_path: Path) -> str:
    """``LLM.chat`` with the same messages, template and settings, in a process of its own."""
    script = tmp_path / "offline.py"
    script.write_text(textwrap.dedent(f"""
        import json, os
        os.environ.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0")
        from vllm import LLM, SamplingParams
        llm = LLM({str(checkpoint)!r}, dtype="float32", max_model_len=2048, enforce_eager=True, seed=0)
        out = llm.chat(json.loads(open({str(tmp_path / 'messages.json')!r}).read()),
                       SamplingParams(temperature=0.0, max_tokens={MAX_TOKENS}),
                       chat_template=open({str(template)!r}).read())
        print("ANSWER=" + json.dumps(out[0].outputs[0].text))
    """))
    (tmp_path / "messages.json").write_text(json.dumps(messages))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [line for line in done.stdout.splitlines() if line.startswith("ANSWER=")][-1]
    return json.loads(line[len("ANSWER="):])


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _wait_healthy(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert server.poll() is None, "vllm serve exited during start-up"
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1.0)
    raise AssertionError(f"vllm serve was not healthy within {START_TIMEOUT_S} s")


def test_served_chat_with_a_base64_image_answers_as_the_offline_engine(tmp_path: Path) -> None:
    from mg_model import MGMProcessor
    from mg_model.vllm.chat_template import chat_template_for

    checkpoint = tiny_vllm_checkpoint(tmp_path, "llama", False)
    template = tmp_path / "mgm.jinja"
    template.write_text(chat_template_for(checkpoint))
    messages = _messages(_image_png())
    offline = _offline_answer(checkpoint, template, messages, tmp_path)

    port = _free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve", str(checkpoint), "--host", "127.0.0.1",
         "--port", str(port), "--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--seed", "0",
         "--chat-template", str(template), "--served-model-name", "mgm-tiny"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        reply = _post(base + "/v1/chat/completions", {"model": "mgm-tiny", "messages": messages,
                                                      "temperature": 0.0, "max_tokens": MAX_TOKENS})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
    served = reply["choices"][0]["message"]["content"]
    assert served == offline
    assert reply["usage"]["completion_tokens"] >= 1
    # the template renders the official prompt (vLLM puts "<image>\n" before the text, as the official prefix)
    expected = MGMProcessor.from_pretrained(checkpoint).render_prompt(QUESTION, has_image=True)
    from transformers import AutoTokenizer

    rendered = AutoTokenizer.from_pretrained(str(checkpoint)).apply_chat_template(
        [{"role": "user", "content": "<image>\n" + QUESTION}], chat_template=template.read_text(), tokenize=False)
    assert rendered == expected
