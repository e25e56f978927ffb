"""The engine across processes: kill -9 mid-run then resume, and torchrun 2 x gloo == 1 process.

These use the fake task + generator (no model) so they take seconds; the same properties are checked on
the real tiny model through the CLI in ``tests/test_cli_run.py``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mg_eval.engine import results, store

TESTS_DIR = Path(__file__).resolve().parent
SCRIPT = """
import sys
from pathlib import Path
from engine_fakes import FakeGenerator, FakeTask
from mg_eval.engine import evaluate

data, out, n, delay = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
evaluate(FakeGenerator(delay_s=delay), [FakeTask(data, n=n)], batch_size=2, output_dir=out, num_workers=1,
         progress=False)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "run_fake.py"
    path.write_text(SCRIPT)
    return path


def _final(out: Path) -> tuple[dict, list[dict]]:
    runs = results.find_runs(out)
    latest = runs[-1]
    samples = [{k: v for k, v in line.items()} for line in results.read_samples(latest)]
    return results.read_results(latest)["scores"], samples


def _stored_lines(out: Path) -> list[str]:
    folder = out / "fake-model" / "fake_vqa" / ".store"
    return [line for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()[1:]]


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    script, n = _script(tmp_path), 16
    subprocess.run([sys.executable, str(script), str(tmp_path / "data"), str(tmp_path / "clean"), str(n), "0"],
                   check=True, env=_env(), timeout=120)
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "data"), str(out), str(n), "0.3"],
                               env=_env())
    target = random.Random().randint(2, 10)  # stored predictions before the kill
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None:
        folder = out / "fake-model" / "fake_vqa" / ".store"
        if folder.is_dir() and len(store.load_predictions(folder.parent, "mgm")) >= target:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    kept = len(store.load_predictions(out / "fake-model" / "fake_vqa", "mgm"))
    assert 0 < kept < n and results.find_runs(out) == []
    subprocess.run([sys.executable, str(script), str(tmp_path / "data"), str(out), str(n), "0"],
                   check=True, env=_env(), timeout=120)
    assert _final(out) == _final(tmp_path / "clean")
    doc_ids = [line.split('"doc_id": "')[1][:4] for line in _stored_lines(out) if '"doc_id"' in line]
    assert sorted(doc_ids) == [f"q{i:03d}" for i in range(n)]  # none lost, none stored twice


@pytest.mark.skipif(not hasattr(os, "fork"), reason="torchrun needs a POSIX system")
def test_torchrun_two_gloo_processes_equal_one_process(tmp_path: Path) -> None:
    script, n = _script(tmp_path), 11
    subprocess.run([sys.executable, str(script), str(tmp_path / "data"), str(tmp_path / "one"), str(n), "0"],
                   check=True, env=_env(), timeout=120)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
                    str(random.Random().randint(20000, 40000)), str(script), str(tmp_path / "data"),
                    str(tmp_path / "two"), str(n), "0"], check=True, env=_env(), timeout=180)
    assert _final(tmp_path / "two") == _final(tmp_path / "one")
    record = results.read_results(results.find_runs(tmp_path / "two")[0])
    assert record["run_config"]["world_size"] == 2
    per_rank = sorted(path.name for path in (tmp_path / "two" / "fake-model" / "fake_vqa" / ".store").glob("*.jsonl"))
    assert per_rank == ["mgm.rank0.jsonl", "mgm.rank1.jsonl"]
    assert len(_stored_lines(tmp_path / "two")) == n
