"""`mg-eval run / results / demo` on the real tiny random MGM and the bundled sample data of the tasks."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from mg_eval.cli.main import main
from mg_eval.engine import results

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mg_eval.cli.demo import tiny_checkpoint as build

    return build(tmp_path_factory.mktemp("cache"))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _responses(out: Path, task: str) -> dict[str, str]:
    latest = [run for run in results.find_runs(out) if run.parent.name == task][-1]
    return {line["doc_id"]: line["response"] for line in results.read_samples(latest)}


RUN_ARGS = ["--tasks", "mme", "--sample-data", "--limit", "4", "--num-workers", "1", "--max-new-tokens-cap", "5",
            "--no-progress"]


@pytest.fixture(scope="module")
def first_run(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `mg-eval run` at batch size 4 shared by the tests below: (output dir, its stdout)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("run") / "out"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["run", "--model", str(tiny_checkpoint), *RUN_ARGS, "--batch-size", "4", "--output", str(out)]) == 0
    return out, buffer.getvalue()


def test_run_writes_results_and_resumes(tiny_checkpoint: Path, first_run: tuple[Path, str], capsys) -> None:
    out, stdout = first_run
    assert "[4 computed, 0 resumed]" in stdout and "not for reporting" in stdout
    record = results.read_results(results.find_runs(out / "tiny-mgm" / "mme")[0])
    assert record["for_reporting"] is False and record["n_samples"]["total"] == 4
    assert record["model"]["weights_hash"].startswith("sha256:") and record["generation"]["max_new_tokens"] == 5
    assert record["model"]["config"]["model_type"].startswith("mgm")
    first = _responses(out, "mme")
    code, stdout, _ = _run(capsys, "run", "--model", str(tiny_checkpoint), *RUN_ARGS, "--batch-size", "4",
                           "--output", str(out))
    assert code == 0 and "[0 computed, 4 resumed]" in stdout
    assert _responses(out, "mme") == first


def test_batched_equals_batch_one(tiny_checkpoint: Path, first_run: tuple[Path, str], tmp_path: Path,
                                  capsys) -> None:
    """Left padding + attention mask: the batch-4 answers are the batch-1 answers."""
    code, _, _ = _run(capsys, "run", "--model", str(tiny_checkpoint), *RUN_ARGS, "--batch-size", "1",
                      "--output", str(tmp_path))
    assert code == 0 and _responses(tmp_path, "mme") == _responses(first_run[0], "mme")


def test_per_sample_collate_equals_the_processor_batch(tiny_checkpoint: Path) -> None:
    """The engine's worker pipeline (one sample at a time, then collate) builds the processor's batch."""
    import torch
    from PIL import Image

    from mg_eval.models.mgm import MGMGenerator

    generator = MGMGenerator.from_pretrained(tiny_checkpoint, dtype="float32", device="cpu")
    images = [Image.new("RGB", (50, 30), (200, 30, 30)), None, Image.new("RGB", (20, 64), (10, 90, 250))]
    texts = ["A short question?", "A text-only question that is quite a bit longer than the others?", "Hi"]
    expected = generator.prepare(images, texts)
    merged = generator.collate([generator.prepare_sample(image, text) for image, text in zip(images, texts)])
    assert set(merged) == set(expected)
    for key, value in expected.items():
        assert torch.equal(merged[key], value), key


@pytest.mark.parametrize(("argv", "expected"), [
    (["--tasks", "mmeee"], "mme"),                                    # unknown task: close matches named
    (["--model", "/nonexistent/ckpt"], "does not exist"),             # missing checkpoint
    (["--output", "/proc/no_such_dir/out"], "not writable"),          # unwritable output dir
])
def test_bad_input_fails_fast_with_the_fix(tiny_checkpoint: Path, tmp_path: Path, capsys, argv, expected) -> None:
    options = {"--model": str(tiny_checkpoint), "--tasks": "mme", "--output": str(tmp_path / "o")}
    options.update(dict(zip(argv[::2], argv[1::2])))
    code, _, err = _run(capsys, "run", *[item for pair in options.items() for item in pair], "--sample-data",
                        "--no-progress")
    assert code == 2 and expected in err and "error:" in err


def test_corrupted_image_fails_before_the_model_loads(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    import shutil

    from mg_eval.tasks import get_task

    data = tmp_path / "mme"
    shutil.copytree(get_task("mme").sample_path, data)
    broken = sorted(data.rglob("*.jpg"))[0]
    broken.write_bytes(b"not a jpeg")
    code, _, err = _run(capsys, "run", "--model", str(tiny_checkpoint), "--tasks", "mme", "--data-path", str(data),
                        "--output", str(tmp_path / "out"), "--no-progress")
    assert code == 2 and "corrupted" in err and broken.stem in err
    assert not (tmp_path / "out" / "tiny-mgm").exists()  # nothing ran


def test_config_mismatch_on_resume_is_refused(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    argv = ["run", "--model", str(tiny_checkpoint), "--tasks", "mme", "--sample-data", "--limit", "1",
            "--max-new-tokens-cap", "2", "--num-workers", "0", "--output", str(tmp_path), "--no-progress"]
    assert _run(capsys, *argv)[0] == 0
    code, _, err = _run(capsys, *argv, "--dtype", "bfloat16")
    assert code == 2 and "resume config mismatch" in err and "--fresh" in err and "--dtype float32" in err


def test_results_lists_compares_and_exports(first_run: tuple[Path, str], tmp_path: Path, capsys) -> None:
    out = first_run[0]
    code, stdout, _ = _run(capsys, "results", "--root", str(out), "--compare", "--csv", str(tmp_path / "t.csv"),
                           "--markdown", str(tmp_path / "t.md"))
    assert code == 0 and "perception_total" in stdout and "tiny-mgm" in stdout
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "task,protocol,metric,tiny-mgm"
    assert (tmp_path / "t.md").read_text().startswith("| task | protocol | metric | tiny-mgm |")
    code, stdout, _ = _run(capsys, "results", "--root", str(out), "--reporting-only")
    assert code == 0 and "no runs" in stdout  # the only run is a --limit run
    code, _, err = _run(capsys, "results", "--root", str(tmp_path / "nothing"))
    assert code == 2 and "mg-eval run" in err


def test_demo_runs_end_to_end(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    code, stdout, _ = _run(capsys, "demo", "--cache-dir", str(tiny_checkpoint.parent), "--output", str(tmp_path),
                           "--max-new-tokens-cap", "2")
    assert code == 0 and "RANDOM weights" in stdout and "meaningless" in stdout
    runs = results.find_runs(tmp_path)
    assert sorted(run.parent.name for run in runs) == sorted(
        ["textvqa_val", "mmbench_en_dev", "mme", "mmvet", "mmmu_val", "mathvista_testmini",
         "pope", "mmbench_cn_dev", "mmbench_en_dev_v11", "mmstar", "mmmu_pro_standard", "mmmu_pro_vision",
         "chartqa_test", "docvqa_val", "ocrbench", "ai2d_test", "hallusionbench"])
    for run in runs:
        record = results.read_results(run)
        assert record["protocol"] == "mgm" and record["judge"] is None
        assert record["n_samples"]["total"] == len(results.read_samples(run)) > 0


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_on_the_tiny_model(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    common = ["run", "--model", str(tiny_checkpoint), "--tasks", "mme", "--sample-data", "--limit", "5",
              "--batch-size", "2", "--num-workers", "0", "--max-new-tokens-cap", "5", "--no-progress"]
    assert _run(capsys, *common, "--output", str(tmp_path / "one"))[0] == 0
    port = str(random.Random().randint(20000, 40000))
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", port,
                    "-m", "mg_eval.cli.main", *common, "--output", str(tmp_path / "two")],
                   check=True, env=_env(), timeout=300, cwd=REPO)
    one = results.read_results(results.find_runs(tmp_path / "one")[0])
    two = results.read_results(results.find_runs(tmp_path / "two")[0])
    assert two["run_config"]["world_size"] == 2 and one["scores"] == two["scores"]
    assert results.read_samples(results.find_runs(tmp_path / "one")[0]) == \
        results.read_samples(results.find_runs(tmp_path / "two")[0])
    stores = sorted(p.name for p in (tmp_path / "two" / "tiny-mgm" / "mme" / ".store").glob("*.jsonl"))
    assert stores == ["mgm.rank0.jsonl", "mgm.rank1.jsonl"]


@pytest.mark.slow
def test_kill_9_then_rerun_on_the_tiny_model(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    import signal
    import time

    from mg_eval.engine import store

    common = ["run", "--model", str(tiny_checkpoint), "--tasks", "mme", "--sample-data", "--batch-size", "1",
              "--num-workers", "1", "--max-new-tokens-cap", "24", "--no-progress"]
    assert _run(capsys, *common, "--output", str(tmp_path / "clean"))[0] == 0
    process = subprocess.Popen([sys.executable, "-m", "mg_eval.cli.main", *common, "--output", str(tmp_path / "k")],
                               env=_env(), cwd=REPO)
    task_dir = tmp_path / "k" / "tiny-mgm" / "mme"
    target = random.Random().randint(1, 6)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if len(store.load_predictions(task_dir, "mgm")) >= target:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert _run(capsys, *common, "--output", str(tmp_path / "k"))[0] == 0
    assert results.read_samples(results.find_runs(tmp_path / "clean")[0]) == \
        results.read_samples(results.find_runs(tmp_path / "k")[0])
    lines = (task_dir / ".store" / "mgm.jsonl").read_text().splitlines()[1:]
    doc_ids = [json.loads(line)["doc_id"] for line in lines]
    assert len(doc_ids) == len(set(doc_ids)) == 8
