"""Suites across a training run: `mg-eval run` on a glob / training folder, `mg-eval watch` following a run.

The checkpoints are written by the trainer itself (tiny model, 6 steps, a checkpoint every 2). The watch is
driven poll by poll through its ``sleep`` hook (which plays the trainer's part between polls), never by time.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from engine_fakes import count_model_loads

from mg_eval.cli.main import build_parser, main
from mg_model.train import TrainConfig, train
from mg_model.train.synthetic import SyntheticSpec, write_dataset

EVAL_TAIL = ["--tasks", "synth_detail", "--limit", "2", "--max-new-tokens-cap", "2", "--num-workers", "0",
             "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synth"), SyntheticSpec(digits=1), n_train=8, n_test=4, seed=0)


@pytest.fixture(scope="module")
def trained(tiny_checkpoint: Path, synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished training output: checkpoint-2, checkpoint-4 and the final model (step 6) at its root."""
    out = tmp_path_factory.mktemp("runs") / "stage2"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(model_path=str(tiny_checkpoint), data_path=str(synth / "train.json"), image_folder=str(synth),
                          output_dir=str(out), stage="finetune", template="vicuna_v1", max_steps=6, save_steps=2,
                          save_total_limit=None, per_device_batch=2, lr=1e-3, warmup_ratio=0.0, progress=False))
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def model_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every checkpoint folder ``MGMForCausalLM.from_pretrained`` is called on (= one evaluation each)."""
    return count_model_loads(monkeypatch)


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _records(output: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(output.rglob("results.json"))]


def _steps(output: Path) -> list[int]:
    return sorted(record["model"]["training"]["step"] for record in _records(output))


def test_a_glob_evaluates_every_complete_checkpoint_once_with_its_step_and_run(trained, synth, tmp_path,
                                                                                model_loads) -> None:
    half = trained / "checkpoint-8"  # a checkpoint still being written: no trainer_state.json yet
    shutil.copytree(trained / "checkpoint-4", half)
    (half / "trainer_state.json").unlink()
    try:
        code, out, err = _cli(["run", "--model", str(trained / "checkpoint-*"), "--model", str(trained / "checkpoint-2"),
                               "--data-path", str(synth), "--output", str(tmp_path / "res"), *EVAL_TAIL])
    finally:
        shutil.rmtree(half)
    assert code == 0, err
    assert "checkpoint-8 is not complete yet" in err
    assert model_loads == [str(trained / "checkpoint-2"), str(trained / "checkpoint-4")]  # by step, each once
    records = _records(tmp_path / "res")
    state = json.loads((trained / "trainer_state.json").read_text())
    assert {record["model"]["name"] for record in records} == {"stage2-step2", "stage2-step4"}
    for record in records:
        training = record["model"]["training"]
        assert training["config_hash"] == state["config_hash"] and training["run_dir"] == str(trained.resolve())
        assert training["kind"] == "full" and not training["final"]
    assert records[0]["model"]["weights_hash"] != records[1]["model"]["weights_hash"]


def test_a_training_folder_adds_its_final_model(trained, synth, tmp_path, model_loads) -> None:
    code, _, err = _cli(["run", "--model", str(trained), "--data-path", str(synth), "--output", str(tmp_path), *EVAL_TAIL])
    assert code == 0, err
    assert len(model_loads) == 3 and _steps(tmp_path) == [2, 4, 6]
    final = [r["model"]["training"] for r in _records(tmp_path) if r["model"]["training"]["final"]]
    assert final == [final[0]] and final[0]["step"] == 6 and final[0]["checkpoint"] == str(trained.resolve())


def test_a_projector_only_checkpoint_is_evaluated_on_its_base(trained, synth, tiny_checkpoint, tmp_path,
                                                               model_loads) -> None:
    stage1 = tmp_path / "stage1" / "checkpoint-2"  # the official stage-1 layout: config.json + mm_projector.bin
    stage1.mkdir(parents=True)
    for name in ("config.json", "mm_projector.bin"):
        shutil.copy2(trained / "checkpoint-2" / name, stage1 / name)
    code, _, err = _cli(["run", "--model", str(stage1.parent), "--data-path", str(synth), "--output",
                         str(tmp_path / "res"), *EVAL_TAIL])
    assert code == 2 and "pass --base PATH" in err and model_loads == []
    code, _, err = _cli(["run", "--model", str(stage1.parent), "--base", str(tiny_checkpoint), "--data-path", str(synth),
                         "--output", str(tmp_path / "res"), *EVAL_TAIL])
    assert code == 0, err
    (record,) = _records(tmp_path / "res")
    training = record["model"]["training"]
    assert training["kind"] == "projector" and training["base"] == str(tiny_checkpoint.resolve())
    assert training["step"] == 2 and model_loads == [str(tiny_checkpoint)]
    from mg_eval.models.hashing import weights_hash

    assert record["model"]["weights_hash"] != weights_hash(tiny_checkpoint)  # the adapter is part of the identity


# --- watch ---------------------------------------------------------------------------------------------------


def _watcher(run_dir: Path, synth: Path, output: Path, sleep: Callable[[float], None], *extra: str) -> Any:
    from mg_eval.cli.watch import make_watcher

    argv = ["watch", str(run_dir), "--data-path", str(synth), "--output", str(output), "--poll", "30", *extra,
            *EVAL_TAIL]
    args = build_parser("watch").parse_args(argv)
    return make_watcher(args, sleep=sleep)


def _copy_checkpoint(source: Path, target: Path, complete: bool = True) -> None:
    """What the trainer does at a save: the files appear; a half-written one lacks trainer_state.json and has a cut
    shard."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    if not complete:
        (target / "trainer_state.json").unlink()
        shard = next(target.glob("model-*.safetensors"))
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])


def _copy_final(trained: Path, run_dir: Path) -> None:
    for path in trained.iterdir():
        if path.is_file():
            shutil.copy2(path, run_dir / path.name)
        elif not path.name.startswith("checkpoint-"):
            shutil.copytree(path, run_dir / path.name, dirs_exist_ok=True)


class Trainer:
    """Plays the trainer between polls: ``actions[i]`` runs at the i-th sleep; records what was evaluated then."""

    def __init__(self, actions: list[Callable[[], None]], watcher_steps: Callable[[], list[int]]):
        self.actions, self.watcher_steps, self.seen = list(actions), watcher_steps, []

    def __call__(self, seconds: float) -> None:
        self.seen.append(list(self.watcher_steps()))
        if self.actions:
            self.actions.pop(0)()


def test_watch_picks_up_new_checkpoints_waits_for_half_written_ones_and_stops_at_the_final(
        trained, synth, tmp_path, model_loads) -> None:
    run_dir = tmp_path / "stage2"
    run_dir.mkdir()
    _copy_checkpoint(trained / "checkpoint-2", run_dir / "checkpoint-2")
    box: dict[str, Any] = {}
    trainer = Trainer([
        lambda: _copy_checkpoint(trained / "checkpoint-4", run_dir / "checkpoint-4", complete=False),  # half written
        lambda: _copy_checkpoint(trained / "checkpoint-4", run_dir / "checkpoint-4"),                  # now complete
        lambda: None,
        lambda: _copy_final(trained, run_dir),
    ], lambda: box["watcher"].summary.evaluated)
    box["watcher"] = watcher = _watcher(run_dir, synth, tmp_path / "res", trainer)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        summary = watcher.run()
    # sleep k sees what polls 1..k evaluated: step 2 once stable (poll 2); step 4 not while half written (polls 2-3)
    # nor at the first poll that saw it complete (3), only once unchanged (4); the final model at poll 6.
    assert trainer.seen == [[], [2], [2], [2, 4], [2, 4]]
    assert summary.evaluated == [2, 4, 6] and "final model" in summary.stopped
    assert [Path(path).name for path in model_loads] == ["checkpoint-2", "checkpoint-4", "stage2"]
    assert _steps(tmp_path / "res") == [2, 4, 6]


class Killed(BaseException):
    """A kill -9 stand-in: nothing after it runs (no cleanup, no ledger write beyond what is on disk)."""


def test_watch_restarts_after_a_kill_without_evaluating_again(trained, synth, tmp_path, model_loads) -> None:
    first = _watcher(trained, synth, tmp_path / "res", lambda seconds: None, "--until", "4")
    evaluate = first.evaluate

    def killed_at_step_4(checkpoint: Any) -> None:
        if checkpoint.step == 4:
            raise Killed  # the process dies while the second checkpoint is being evaluated
        evaluate(checkpoint)

    first.evaluate = killed_at_step_4
    box = {"watcher": first}
    with pytest.raises(Killed), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        first.run()
    assert box["watcher"].summary.evaluated == [2]
    loads_before = list(model_loads)
    restarted = _watcher(trained, synth, tmp_path / "res", lambda seconds: None, "--until", "4")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        summary = restarted.run()
    assert summary.evaluated == [4] and "up to step 4" in summary.stopped  # step 2 not again; final (6) not wanted
    assert [Path(path).name for path in model_loads[len(loads_before):]] == ["checkpoint-4"]
    assert _steps(tmp_path / "res") == [2, 4]


def test_a_checkpoint_deleted_before_evaluation_is_reported_not_an_error(trained, synth, tmp_path, model_loads) -> None:
    run_dir = tmp_path / "stage2"
    run_dir.mkdir()
    _copy_checkpoint(trained / "checkpoint-2", run_dir / "checkpoint-2", complete=False)
    box: dict[str, Any] = {}
    trainer = Trainer([
        lambda: (_copy_checkpoint(trained / "checkpoint-4", run_dir / "checkpoint-4"),
                 shutil.rmtree(run_dir / "checkpoint-2")),  # save_total_limit=1
        lambda: _copy_final(trained, run_dir),
    ], lambda: box["watcher"].summary.evaluated)
    box["watcher"] = _watcher(run_dir, synth, tmp_path / "res", trainer)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        summary = box["watcher"].run()
    assert summary.deleted == [2] and summary.evaluated == [4, 6]
    assert "checkpoint-2 was deleted before it was evaluated" in err.getvalue()


# --- curves, results rows, report ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(trained: Path, synth: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results root with the three checkpoints of ``trained`` and the base model (the reference)."""
    root = tmp_path_factory.mktemp("curve-results")
    for model in (trained, tiny_checkpoint):
        code, _, err = _cli(["run", "--model", str(model), "--data-path", str(synth), "--output", str(root),
                             *EVAL_TAIL])
        assert code == 0, err
    return root


def test_curve_points_are_the_recorded_scores_by_step(evaluated) -> None:
    from mg_eval.analysis.curves import curve_points, reference_lines
    from mg_eval.report.collect import load_run_views

    views = load_run_views(evaluated, 200, 0)
    points = curve_points(views)
    recorded = {record["model"]["training"]["step"]: record["scores"][record["primary_metric"]]
                for record in _records(evaluated) if record["model"].get("training")}
    assert [(p.step, p.value) for p in points] == sorted(recorded.items())
    assert {p.run for p in points} == {"stage2"} and [p.final for p in points] == [False, False, True]
    assert all(p.low is not None and p.low <= p.value <= p.high for p in points)
    (line,) = reference_lines(views, ["MGM-tiny"])
    base = next(r for r in _records(evaluated) if r["model"]["name"] == "MGM-tiny")
    assert line.value == base["scores"][base["primary_metric"]] and line.task == "synth_detail"
    assert curve_points(views, ["other-run"]) == []


def test_the_curve_figure_draws_each_run_its_band_and_the_reference() -> None:
    from mg_eval.analysis.curves import CurvePoint, ReferenceLine, draw_curves

    points = [CurvePoint("a", "t1", "accuracy", step, value, value - 0.1, value + 0.1)
              for step, value in ((500, 0.2), (1000, 0.4), (1500, 0.5))]
    points += [CurvePoint("b", "t1", "accuracy", 500, 0.3, None, None), CurvePoint("a", "t2", "em", 500, 0.9, 0.8, 1.0)]
    fig = draw_curves(points, [ReferenceLine("MGM-7B", "t1", 0.6)])
    panel_t1, panel_t2 = (ax for ax in fig.axes if ax.get_visible())
    assert panel_t1.get_title() == "t1" and panel_t2.get_title() == "t2"
    run_a, run_b, reference = panel_t1.lines
    assert run_a.get_xydata().tolist() == [[500, 0.2], [1000, 0.4], [1500, 0.5]]
    assert run_b.get_xydata().tolist() == [[500, 0.3]]
    assert list(reference.get_ydata()) == [0.6, 0.6] and reference.get_label() == "MGM-7B"
    (band,) = panel_t1.collections  # run b has no CI: only run a's band
    ys = band.get_paths()[0].vertices[:, 1]
    assert min(ys) == pytest.approx(0.1) and max(ys) == pytest.approx(0.6)


def test_plot_results_and_report_show_the_steps(evaluated, tmp_path) -> None:
    code, out, err = _cli(["plot", str(evaluated), "--curve", "--curve-reference", "MGM-tiny", "--output",
                           str(tmp_path / "fig"), "--resamples", "100", "--dpi", "50"])
    assert code == 0, err
    assert (tmp_path / "fig" / "training_curves.png").is_file() and (tmp_path / "fig" / "training_curves.svg").is_file()
    code, out, err = _cli(["results", "--root", str(evaluated), "--steps"])
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[2] for row in rows] == ["2", "4", "6"] and all(row[0] == "stage2" for row in rows)
    from mg_eval.report.builder import ReportOptions, build_report

    build_report(evaluated, tmp_path / "site", ReportOptions(n_resamples=100, images=False))
    assert (tmp_path / "site" / "figures" / "training_curves.png").is_file()
    assert "figures/training_curves.png" in (tmp_path / "site" / "index.html").read_text()


@pytest.mark.slow
def test_train_with_eval_tasks_evaluates_every_checkpoint_beside_training(tiny_checkpoint, synth, tmp_path,
                                                                           monkeypatch) -> None:
    """`mg-eval train --eval-every 2 --eval-tasks ...`: a watch process evaluates checkpoint-2 and the final model."""
    monkeypatch.chdir(tmp_path)
    eval_args = f"--data-path {synth} --limit 2 --max-new-tokens-cap 2 --num-workers 0 --no-progress --threads 1"
    code, _, err = _cli(["train", "--model", str(tiny_checkpoint), "--data", str(synth / "train.json"), "--image-folder",
                         str(synth), "--output", "run", "--template", "vicuna_v1", "--lr", "1e-3", "--batch-size", "2",
                         "--max-steps", "4", "--eval-every", "2", "--eval-tasks", "synth_detail", "--eval-output",
                         "res", "--eval-poll", "0.2", "--eval-args", eval_args])
    assert code == 0, err
    assert _steps(tmp_path / "res") == [2, 4]


def test_results_of_another_run_under_the_same_name_are_refused(trained, synth, tmp_path, model_loads) -> None:
    other = tmp_path / "elsewhere" / "stage2" / "checkpoint-2"  # another run whose folder is also called stage2
    _copy_checkpoint(trained / "checkpoint-2", other)
    state = json.loads((other / "trainer_state.json").read_text())
    state["config"]["lr"], state["config_hash"] = 0.5, "sha256:0123456789abcdef"
    (other / "trainer_state.json").write_text(json.dumps(state))
    code, _, err = _cli(["run", "--model", str(trained / "checkpoint-2"), "--data-path", str(synth), "--output",
                         str(tmp_path / "res"), *EVAL_TAIL])
    assert code == 0, err
    code, _, err = _cli(["run", "--model", str(other), "--data-path", str(synth), "--output", str(tmp_path / "res"),
                         *EVAL_TAIL])
    assert code == 2 and "holds results of another training run" in err and len(model_loads) == 1


@pytest.mark.slow
def test_watch_killed_with_sigkill_restarts_without_evaluating_again(trained, synth, tmp_path) -> None:
    """A real `mg-eval watch` process, SIGKILLed once checkpoint-2 is in its ledger, then restarted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run_dir = tmp_path / "stage2"
    run_dir.mkdir()
    _copy_checkpoint(trained / "checkpoint-2", run_dir / "checkpoint-2")
    argv = [sys.executable, "-m", "mg_eval.cli.main", "watch", str(run_dir), "--data-path", str(synth), "--output",
            str(tmp_path / "res"), "--poll", "0.2", *EVAL_TAIL]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ledger_dir = tmp_path / "res" / ".watch"
    while not any("2" in json.loads(p.read_text())["steps"] for p in ledger_dir.glob("*.json")):
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _copy_checkpoint(trained / "checkpoint-4", run_dir / "checkpoint-4")
    _copy_final(trained, run_dir)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "evaluated steps [4, 6] in this session" in done.stdout
    evaluating = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("evaluating ")]
    assert evaluating == [str(run_dir / "checkpoint-4"), str(run_dir)]  # checkpoint-2 not again
    assert _steps(tmp_path / "res") == [2, 4, 6]


def test_a_checkpoint_at_the_last_step_stands_for_the_final_model(trained, tmp_path) -> None:
    """The HF Trainer also writes checkpoint-<last step>: one entry (one evaluation, one name) for that step."""
    from mg_eval.engine.checkpoints import scan_run, training_checkpoints

    run_dir = tmp_path / "hf-run"
    for step in (2, 4):
        _copy_checkpoint(trained / f"checkpoint-{step}", run_dir / f"checkpoint-{step}")
    (run_dir / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    found = scan_run(run_dir)
    assert [(item.step, item.final, item.path.name) for item in found] == [(2, False, "checkpoint-2"),
                                                                           (4, True, "checkpoint-4")]
    assert [item.model_name for item in training_checkpoints(str(run_dir))] == ["hf-run-step2", "hf-run-step4"]


def test_the_final_models_weights_hash_leaves_the_checkpoint_folders_out(trained, tmp_path) -> None:
    from mg_eval.models.hashing import weights_hash

    final_only = tmp_path / "final-only"
    final_only.mkdir()
    _copy_final(trained, final_only)
    assert weights_hash(trained) == weights_hash(final_only)  # pruning checkpoint-<step>/ changes nothing
