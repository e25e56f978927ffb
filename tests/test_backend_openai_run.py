"""``mg-eval run --backend openai`` end to end against the scripted local server, as a user runs it: every
task of mgm_paper on the bundled samples, resume after kill -9 without re-asking, bad input as one error
line before any sample, the key never on disk; and the leaderboard commands marking how each run was made."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_server import FakeChatServer, images_of, text_of, without_proxies

from mg_eval.cli.main import main
from mg_eval.engine import results

KEY = "sk-test-RUN-SECRET-7f3a9c"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _key_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_RUN_KEY", KEY)
    without_proxies(monkeypatch)


def answer(body: dict) -> dict:
    """A served 'model': answers Yes to yes/no questions, A to choices, else a short phrase."""
    text = text_of(body)
    return {"content": "Yes" if "yes or no" in text.lower() else "A" if "\nA." in text or "(A)" in text else "a sign"}


def argv(server: FakeChatServer, tmp_path: Path, *extra: str, tasks: str = "mme") -> list[str]:
    return ["run", "--backend", "openai", "--model", "served-vlm", "--base-url", server.base_url,
            "--api-key-env", "MG_TEST_RUN_KEY", "--tasks", tasks, "--sample-data", "--protocol", "lmms",
            "--output", str(tmp_path / "out"), "--num-workers", "0", "--no-progress",
            "--backend-option", f"cache_dir={tmp_path / 'cache'}", *extra]


def is_probe(request) -> bool:
    return "Describe the image in one word" in text_of(request.body)


def request_id(request) -> tuple[str, str]:
    """(prompt text, digest of the image URLs): what tells two samples' requests apart."""
    return text_of(request.body), hashlib.sha256("".join(images_of(request.body)).encode()).hexdigest()


def sample_requests(server: FakeChatServer) -> list[tuple[str, str]]:
    """The requests that carried a sample (the probe is left out)."""
    return [request_id(r) for r in server.requests if not is_probe(r)]


def key_on_disk(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file() and KEY.encode() in path.read_bytes()]


def test_every_paper_task_runs_resumes_from_the_cache_and_records_the_backend(tmp_path, capsys) -> None:
    with FakeChatServer(responder=answer, max_requests=400) as server:
        assert main(argv(server, tmp_path, tasks="mgm_paper")) == 0
        n_samples = len(sample_requests(server))
        out = capsys.readouterr().out
        assert "served-vlm+openai / mme:" in out and "served-vlm+openai / mmmu_val:" in out
        assert main(argv(server, tmp_path, tasks="mgm_paper")) == 0  # stored: nothing is asked again
        assert len(sample_requests(server)) == n_samples
        assert main(argv(server, tmp_path, "--fresh", tasks="mgm_paper")) == 0  # store gone: the cache answers
        assert len(sample_requests(server)) == n_samples
    runs = results.find_runs(tmp_path / "out")
    assert {run.parent.parent.name for run in runs} == {"served-vlm+openai"}
    record = results.read_results(max((r for r in runs if r.parent.name == "mme"), key=lambda r: r.name))
    assert record["backend"]["name"] == "openai" and record["model"]["weights_hash"] == "api:openai:served-vlm@127.0.0.1"
    assert record["model"]["config"]["api"]["api_key_env"] == "MG_TEST_RUN_KEY"
    samples = results.read_samples(record and runs[0])
    assert all(sample["prompt"] for sample in samples)
    assert key_on_disk(tmp_path) == []


def test_a_beam_task_is_decoded_without_beams_and_marked(tmp_path) -> None:
    with FakeChatServer(responder=answer) as server:
        assert main(argv(server, tmp_path, "--protocol", "mgm", tasks="mmmu_val")) == 0
    (run,) = results.find_runs(tmp_path / "out")
    record = results.read_results(run)
    assert record["for_reporting"] is False
    assert any("no beam search" in reason for reason in record["not_for_reporting"])
    assert "no beam search" in record["backend"]["decoding"]["departure"]
    sampled = [r.body for r in server.requests if "seed" in r.body]
    assert sampled and all(body["temperature"] == 1.0 for body in sampled)


@pytest.mark.slow  # a subprocess that imports torch; the cache's part is also tested in-process (test_backend_openai.py)
def test_kill_minus_9_loses_no_answer(tmp_path) -> None:
    def slow(body: dict) -> dict:
        return {**answer(body), "sleep": 0.15}

    with FakeChatServer(responder=slow, max_requests=400) as server:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests"),
                                                           os.environ.get("PYTHONPATH", "")]))
        command = [sys.executable, "-m", "mg_eval.cli.main", *argv(server, tmp_path, "--batch-size", "4",
                                                                   "--backend-option", "concurrency=2", tasks="pope")]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        # batches of 1, 2 and 4 samples (ramp-up), 2 request threads: a thread sends its next request only after
        # its previous answer is cached, so once the 7th request arrived the first 5 answers are on disk (the
        # third batch's first pair cached, not yet stored); kill while the second pair is in flight
        while len(sample_requests(server)) < 7 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        answered = set(sample_requests(server)[:5])
        time.sleep(0.3)  # let the replies in flight at the kill finish
        n_before = len(server.requests)
        assert len(answered) >= 4 and n_before < 13
        assert main(argv(server, tmp_path, "--batch-size", "4", tasks="pope")) == 0
        asked_again = [request_id(r) for r in server.requests[n_before:] if not is_probe(r)]
    assert not answered & set(asked_again)  # nothing answered before the kill is asked again
    (run,) = results.find_runs(tmp_path / "out")
    record = results.read_results(run)
    assert record["n_samples"]["total"] == 12 and record["n_samples"]["resumed"] >= 3  # batches of 1 and 2 stored
    assert key_on_disk(tmp_path) == []


@pytest.mark.parametrize("case", ["no_url", "refuses_images", "unset_key", "unknown_option", "dtype"])
def test_bad_input_is_one_error_line_before_any_sample(case, tmp_path, capsys, monkeypatch) -> None:
    with FakeChatServer(responder=answer, refuse_images=case == "refuses_images") as server:
        args = argv(server, tmp_path)
        if case == "no_url":
            index = args.index("--base-url")
            del args[index:index + 2]
        elif case == "unset_key":
            monkeypatch.delenv("MG_TEST_RUN_KEY")
        elif case == "unknown_option":
            args += ["--backend-option", "beams=5"]
        elif case == "dtype":
            args += ["--dtype", "float16"]
        assert main(args) == 2
        assert sample_requests(server) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0], err
    expected = {"no_url": "--base-url", "refuses_images": "does not take image input",
                "unset_key": "$MG_TEST_RUN_KEY is not set", "unknown_option": "beams", "dtype": "--dtype"}[case]
    assert expected in err[0]
    assert results.find_runs(tmp_path / "out") == []


def _mgm_run_beside(root: Path, baseline: Path) -> None:
    """An MGM run of the same task written as the reference backend writes it (no backend block)."""
    record = results.read_results(baseline)
    record = {**record, "model": {**record["model"], "name": "MGM-7B"}, "protocol": "mgm",
              "run_id": results.new_run_id("mgm")}
    record.pop("backend", None)
    results.write_run(results.run_dir(root, "MGM-7B", record["task"]["name"], record["run_id"]), record,
                      results.read_samples(baseline))


def test_leaderboard_commands_mark_how_each_run_was_made(tmp_path, capsys) -> None:
    with FakeChatServer(responder=answer) as server:
        assert main(argv(server, tmp_path, tasks="mme")) == 0
    out = tmp_path / "out"
    _mgm_run_beside(out, results.find_runs(out)[0])
    capsys.readouterr()

    assert main(["results", "--root", str(out), "--compare", "--reference-rows", "--markdown", str(tmp_path / "t.md")]) == 0
    table = capsys.readouterr().out
    assert "how each column was made" in table and "[paper]" in table
    made = (tmp_path / "t.md").read_text().split("How each column was made:")[1]
    assert "| served-vlm+openai | openai | lmms | no judge |" in made
    assert "| MGM-7B | mgm | mgm | no judge |" in made and "| transcribed | the authors' | as published |" in made

    assert main(["plot", str(out), "--output", str(tmp_path / "fig")]) == 0
    heatmap = (tmp_path / "fig" / "leaderboard_heatmap.svg").read_text()
    # bundled sample data: not for reporting, hence "(limited)"
    assert "served-vlm+openai (lmms) (limited) [backend openai · lmms prompts]" in heatmap
    assert "MGM-7B (limited) [backend mgm · mgm prompts]" in heatmap and "(Vicuna-7B) [paper]" in heatmap
    bars = (tmp_path / "fig" / "leaderboard_bars.svg").read_text()
    assert "[backend openai · lmms prompts]" in bars and "solid: the paper, as published" in bars

    assert main(["report", str(out), "--output", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    rows = {line for line in index.splitlines() if "<th>served-vlm+openai</th>" in line or "<th>MGM-7B</th>" in line}
    assert any("<td>openai</td><td>lmms</td>" in row for row in rows)
    assert any("<td>mgm</td><td>mgm</td>" in row for row in rows)
    assert "transcribed" in index
    assert json.dumps(KEY) not in index
