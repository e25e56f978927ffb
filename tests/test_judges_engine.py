"""The engine on MM-Vet with the HTTP judge: graded through the scripted server, recorded, thresholded."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fakes import FakeGenerator
from fake_server import FakeChatServer

from mg_eval.cli.main import main
from mg_eval.cli.run import check_ungraded_outcomes
from mg_eval.engine import evaluate, results
from mg_eval.errors import UserInputError
from mg_eval.judges import OpenAICompatJudge, build_judge
from mg_eval.tasks import get_task

KEY = "sk-engine-test-KEY-424242"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_TEST_JUDGE_KEY", KEY)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def _evaluate(out: Path, judge, **kwargs):
    task = get_task("mmvet")
    return evaluate(FakeGenerator(), [task], protocol="mgm", batch_size=3, limit=3, output_dir=out, judge=judge,
                    num_workers=0, data_paths={"mmvet": str(task.sample_path)}, progress=False, **kwargs)


def _judge(server: FakeChatServer, cache: Path, **options):
    return build_judge("paper", benchmark="mmvet", base_url=server.base_url, api_key_env="MG_TEST_JUDGE_KEY",
                       cache_dir=cache, **options)


def test_run_grades_records_and_rescoring_hits_the_cache(tmp_path: Path) -> None:
    with FakeChatServer(responder=lambda body: {"content": "0.6"}) as server:
        (first,) = _evaluate(tmp_path / "out", _judge(server, tmp_path / "cache"))
        assert len(server.requests) == 3
        (second,) = _evaluate(tmp_path / "out", _judge(server, tmp_path / "cache"))
        assert len(server.requests) == 3  # re-scoring: every grade from the cache
    check_ungraded_outcomes([first, second], 0.0)
    for outcome, (hits, calls) in ((first, (0, 3)), (second, (3, 0))):
        record = outcome.results
        assert record["judge"] == "openai:gpt-4-0613"
        assert record["scores"]["n_ungraded"] == 0 and record["scores"]["total"] == 60.0
        report = record["extra"]["judge"]
        assert report["model"] == "gpt-4-0613" and report["endpoint"] == server.root_url
        assert (report["stats"]["hits"], report["stats"]["calls"]) == (hits, calls)
        for path in Path(outcome.run_dir).iterdir():
            assert KEY not in path.read_text()


def test_shared_judge_reports_each_tasks_own_counts(tmp_path: Path) -> None:
    with FakeChatServer(responder=lambda body: {"content": "1.0"}) as server:
        judge = _judge(server, tmp_path / "cache")
        (first,) = _evaluate(tmp_path / "a", judge)
        (second,) = _evaluate(tmp_path / "b", judge, fresh=True)
    assert first.results["extra"]["judge"]["stats"]["misses"] == 3
    assert second.results["extra"]["judge"]["stats"]["misses"] == 0
    assert second.results["extra"]["judge"]["stats"]["hits"] == 3 and judge.stats.hits == 3


def test_judge_outage_is_recorded_then_fails_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OpenAICompatJudge, "_backoff", lambda self, attempt, retry_after: 0.0)  # quick retries
    with FakeChatServer(responder=lambda body: {"status": 503}, max_requests=100) as server:
        (outcome,) = _evaluate(tmp_path / "out", _judge(server, tmp_path / "cache", max_concurrency=2))
    assert len(server.requests) == 3 * 7  # each sample: 1 + 6 retries, and no second round after the prefetch
    record = results.read_results(Path(outcome.run_dir))  # written before any threshold check
    assert record["scores"]["n_ungraded"] == 3
    assert record["extra"]["judge"]["stats"]["failures"] == record["extra"]["judge"]["stats"]["ungraded"] == 3
    check_ungraded_outcomes([outcome], 1.0)
    with pytest.raises(UserInputError, match=r"mmvet: 3 of 3 samples \(100\.0%\) could not be graded"):
        check_ungraded_outcomes([outcome], 0.5)


def test_cli_builds_the_judge_before_inference(tmp_path: Path, capsys) -> None:
    argv = ["run", "--model", str(tmp_path / "no-such-checkpoint"), "--tasks", "mmvet", "--sample-data",
            "--output", str(tmp_path / "out"), "--no-progress", "--judge", "paper",
            "--judge-api-key-env", "MG_TEST_UNSET_KEY", "--judge-cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 2
    assert "$MG_TEST_UNSET_KEY is not set" in capsys.readouterr().err
    assert main([*argv, "--max-ungraded", "2"]) == 2
    assert "--max-ungraded 2.0 is outside [0, 1]" in capsys.readouterr().err
