"""The judge options of `run`, `score` and `ablate`: one helper builds the judge; timeout/retries reach the client.

Every check talks to the scripted OpenAI-compatible server on 127.0.0.1 (``FakeChatServer``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import conformance_path
from fake_server import FakeChatServer

from mg_eval.cli.judge_options import judge_for_task
from mg_eval.cli.main import build_parser, main
from mg_eval.engine.results import read_results
from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges import OpenAICompatJudge
from mg_eval.tasks import benchmark_module, get_task

_mathvista = benchmark_module("mathvista", "scorer")
build_extraction_prompt, rule_extract = _mathvista.build_extraction_prompt, _mathvista.rule_extract

KEY_ENV = "MG_JUDGE_OPTIONS_TEST_KEY"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-judge-options-test")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(OpenAICompatJudge, "_backoff", lambda self, attempt, retry_after: 0.0)  # quick retries


def _argv(command: str, tmp_path: Path) -> list[str]:
    """The required arguments of each command (nothing is run: only parsed)."""
    return {"run": ["run", "--model", str(tmp_path / "ckpt"), "--tasks", "mmvet"],
            "score": ["score", str(tmp_path / "preds.json")],
            "ablate": ["ablate", str(REPO / "ablations" / "info_mining.yaml")]}[command]


@pytest.mark.parametrize("command", ["run", "score", "ablate"])
def test_every_command_builds_its_judge_from_the_same_options(command, tmp_path):
    with FakeChatServer(script=[{"sleep": 1.0, "content": "late"}] * 3) as server:
        argv = [*_argv(command, tmp_path), "--judge", "openai:gpt-4-0613", "--judge-base-url", server.base_url,
                "--judge-api-key-env", KEY_ENV, "--judge-cache-dir", str(tmp_path / "cache"),
                "--judge-timeout", "0.2", "--judge-retries", "2"]
        args = build_parser(command).parse_args(argv)
        judge = judge_for_task(args)(get_task("mmvet"))
        assert judge.describe()["endpoint"] == server.root_url
        assert judge.cache.path.parent == tmp_path / "cache"
        with pytest.raises(JudgeError, match=r"timed out after 0\.2s"):
            judge.complete("grade this", max_tokens=3)
        assert len(server.requests) == 3  # 1 attempt + --judge-retries 2
        assert server.requests[0].headers["authorization"] == "Bearer sk-judge-options-test"


def test_one_judge_per_benchmark_for_paper_and_one_for_a_named_spec(tmp_path):
    args = build_parser("run").parse_args([*_argv("run", tmp_path), "--judge", "paper", "--judge-api-key-env",
                                           KEY_ENV, "--judge-cache-dir", str(tmp_path / "cache")])
    judge = judge_for_task(args)
    assert judge(get_task("mmvet")) is judge(get_task("mmvet"))
    assert judge(get_task("mmvet")) is not judge(get_task("mathvista_testmini"))
    assert judge(get_task("mmvet")).name == "openai:gpt-4-0613"
    assert judge(get_task("mmbench_en_dev")).name == "openai:gpt-3.5-turbo-0613"
    args.judge = "openai:some-model"
    named = judge_for_task(args)
    assert named(get_task("mmvet")) is named(get_task("mmbench_en_dev"))


@pytest.mark.parametrize(("option", "value", "words"), [("--judge-timeout", "0", "--judge-timeout 0 must be > 0"),
                                                        ("--judge-retries", "-1", "--judge-retries -1 must be >= 0")])
def test_bad_timeout_or_retries_is_a_user_error(option, value, words, tmp_path):
    args = build_parser("score").parse_args([*_argv("score", tmp_path), "--judge", "openai:m", option, value])
    with pytest.raises(UserInputError, match=words):
        judge_for_task(args)


def test_missing_key_names_the_real_flag(tmp_path, capsys):
    argv = [*_argv("run", tmp_path), "--judge", "paper", "--judge-api-key-env", "MG_UNSET_JUDGE_KEY",
            "--judge-cache-dir", str(tmp_path / "cache"), "--sample-data"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "$MG_UNSET_JUDGE_KEY is not set" in err and "--judge-api-key-env" in err and "--judge-key-env" not in err


def test_ablate_builds_its_judge_before_any_evaluation(tmp_path, capsys):
    argv = [*_argv("ablate", tmp_path), "--judge", "paper", "--judge-api-key-env", "MG_UNSET_JUDGE_KEY",
            "--judge-cache-dir", str(tmp_path / "cache"), "--checkpoint-root", str(tmp_path),
            "--output", str(tmp_path / "out")]
    assert main(argv) == 2
    assert "$MG_UNSET_JUDGE_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.fixture()
def mathvista_without_extractions(tmp_path) -> tuple[Path, int]:
    """30 of Bard's MathVista outputs without their stored extraction; and how many need the LLM extractor."""
    outputs = json.loads(conformance_path("mathvista", "output_bard.json").read_text())
    subset = {pid: {k: v for k, v in p.items() if k != "extraction"} for pid, p in list(outputs.items())[:30]}
    path = tmp_path / "no_extractions.json"
    path.write_text(json.dumps(subset))
    prompts = {build_extraction_prompt(p["query"], p["response"]) for p in subset.values()
               if rule_extract(p["response"], p["question_type"], p["answer_type"], p["choices"]) is None}
    assert len(prompts) >= 5
    return path, len(prompts)


def test_score_with_a_failing_judge_writes_results_then_fails(mathvista_without_extractions, tmp_path, capsys):
    path, n_prompts = mathvista_without_extractions
    with FakeChatServer(responder=lambda body: {"status": 503}, max_requests=500) as server:
        code = main(["score", str(path), "--judge", "openai:gpt-4-0613", "--judge-base-url", server.base_url,
                     "--judge-api-key-env", KEY_ENV, "--judge-cache-dir", str(tmp_path / "cache"),
                     "--judge-retries", "0", "--max-ungraded", "0", "--output", str(tmp_path / "out")])
        n_requests = len(server.requests)
    out = capsys.readouterr()
    assert code == 2
    assert n_requests == n_prompts  # --judge-retries 0: one attempt per distinct prompt
    written = [line.split(" ", 1)[1] for line in out.out.splitlines() if line.startswith("wrote ")]
    assert len(written) == 1  # written before the threshold check failed
    record = read_results(written[0])
    assert record["scores"]["n_ungraded"] > 0 and record["judge"] == "openai:gpt-4-0613"
    assert record["extra"]["judge"]["stats"]["failures"] == n_prompts
    assert "pass --judge" not in out.err
    assert "the judge openai:gpt-4-0613 failed on them" in out.err
    assert "could not be graded by judge openai:gpt-4-0613" in out.err and "Fix the judge" in out.err


def test_score_without_a_judge_says_to_pass_one(mathvista_without_extractions, tmp_path, capsys):
    path, _ = mathvista_without_extractions
    code = main(["score", str(path), "--judge", "none", "--max-ungraded", "0", "--output", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert code == 2
    assert any(line.startswith("wrote ") for line in out.out.splitlines())
    assert "no judge was given: pass --judge paper" in out.err
    assert "Name a judge (--judge paper" in out.err and "Fix the judge" not in out.err


@pytest.mark.parametrize("progress", [False, True])
def test_no_progress_hides_the_judge_bars(tmp_path, capfd, progress):
    from engine_fakes import FakeGenerator

    from mg_eval.engine import evaluate
    from mg_eval.judges import build_judge

    task = get_task("mmvet")
    with FakeChatServer(responder=lambda body: {"content": "0.5"}) as server:
        judge = build_judge("paper", benchmark="mmvet", base_url=server.base_url, api_key_env=KEY_ENV,
                            cache_dir=tmp_path / "cache")
        capfd.readouterr()
        evaluate(FakeGenerator(), [task], protocol="mgm", batch_size=3, limit=3, output_dir=tmp_path / "out",
                 judge=judge, num_workers=0, data_paths={"mmvet": str(task.sample_path)}, progress=progress)
        assert len(server.requests) == 3
    err = capfd.readouterr().err
    assert ("judge prefetch" in err) == progress  # the bar is there with progress, and only then
