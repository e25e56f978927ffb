"""Prediction store and resume behaviour of the engine (fake task + fake generator, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fakes import FakeGenerator, FakeSampleGenerator, FakeTask

from mg_eval.engine import results, store
from mg_eval.engine.runner import evaluate, plan_batches
from mg_eval.errors import DataError, UserInputError


def _run(tmp_path: Path, task: FakeTask, generator: FakeGenerator, **kwargs):
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("num_workers", 0)
    kwargs.setdefault("progress", False)
    return evaluate(generator, [task], output_dir=tmp_path / "out", **kwargs)


def _comparable(run) -> tuple[dict, list[dict]]:
    samples = results.read_samples(run.run_dir)
    return run.results["scores"], samples


def test_torn_last_line_is_skipped_and_repaired(tmp_path: Path) -> None:
    path = store.store_path(tmp_path, "mgm")
    with store.PredictionWriter(path, {"task": "t", "protocol": "mgm", "dtype": "float32"}) as writer:
        writer.append([{"doc_id": "a", "fingerprint": "f", "prompt": "p", "response": "r"}])
    with open(path, "a") as handle:  # what kill -9 in the middle of a write leaves behind
        handle.write('{"doc_id": "b", "fingerprint": "f", "pro')
    assert set(store.load_predictions(tmp_path, "mgm")) == {("a", "f")}
    with store.PredictionWriter(path, {"task": "t", "protocol": "mgm", "dtype": "float32"}) as writer:
        writer.append([{"doc_id": "c", "fingerprint": "f", "prompt": "p", "response": "r"}])
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # every line parses again
    assert set(store.load_predictions(tmp_path, "mgm")) == {("a", "f"), ("c", "f")}


def test_second_writer_of_the_same_store_is_refused(tmp_path: Path) -> None:
    path = store.store_path(tmp_path, "mgm")
    header = {"task": "t", "protocol": "mgm", "dtype": "float32"}
    with store.PredictionWriter(path, header), pytest.raises(UserInputError, match="another mg-eval process"):
        with store.PredictionWriter(path, header):
            pass


def test_rerun_resumes_without_recomputing(tmp_path: Path) -> None:
    task, generator = FakeTask(tmp_path / "data", n=10), FakeGenerator()
    first = _run(tmp_path, task, generator)[0]
    assert first.n_computed == 10 and sum(generator.calls) == 10
    again = FakeGenerator()
    second = _run(tmp_path, task, again)[0]
    assert again.calls == [] and second.n_resumed == 10 and second.n_computed == 0
    assert _comparable(first) == _comparable(second)
    stored = store.load_predictions(tmp_path / "out" / "fake-model" / "fake_vqa", "mgm")
    assert len(stored) == 10


def test_changes_invalidate_only_the_predictions_they_affect(tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "data", n=8)
    _run(tmp_path, task, FakeGenerator())
    task.questions["q003"] = "A reworded question?"  # one prompt changes
    generator = FakeGenerator()
    run = _run(tmp_path, task, generator, batch_size=1)[0]
    assert run.n_computed == 1 and generator.calls == [1]
    generator = FakeGenerator()
    run = _run(tmp_path, task, generator, generation_overrides={"max_new_tokens_cap": 4})[0]
    assert run.n_computed == 8  # generation settings are in every fingerprint
    assert run.results["generation"]["max_new_tokens"] == 4
    generator = FakeGenerator(weights="w1")  # new weights
    assert _run(tmp_path, task, generator)[0].n_computed == 8


def test_batches_do_not_depend_on_what_is_stored(tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "data", n=9)
    from mg_eval.engine.runner import plan_samples

    samples = plan_samples(task, task.load(), "mgm", task.generation_kwargs("mgm"), {"w": 1})
    batches = plan_batches(samples, 4, do_sample=False)
    assert sorted(i for batch in batches for i in batch) == list(range(9))
    assert [len(batch) for batch in batches] == [1, 2, 4, 2]  # ramp-up, then full batches
    assert [len(batch) for batch in plan_batches(samples, 3, do_sample=False)] == [3, 3, 3]
    assert plan_batches(samples, 4, do_sample=True) == [[i] for batch in batches for i in batch]


def test_limit_run_is_not_for_reporting(tmp_path: Path) -> None:
    run = _run(tmp_path, FakeTask(tmp_path / "data", n=6), FakeGenerator(), limit=3)[0]
    record = results.read_results(run.run_dir)
    assert record["for_reporting"] is False and record["limit"] == 3
    assert record["n_samples"]["total"] == 3
    assert [s["doc_id"] for s in results.read_samples(run.run_dir)] == ["q000", "q001", "q002"]
    full = _run(tmp_path, FakeTask(tmp_path / "data", n=6), FakeGenerator())[0]
    assert full.results["for_reporting"] is True and full.n_resumed == 3  # the limit run's work is reused
    assert results.find_runs(tmp_path / "out") == sorted([run.run_dir, full.run_dir])


def test_results_record_has_the_documented_fields(tmp_path: Path) -> None:
    run = _run(tmp_path, FakeTask(tmp_path / "data", n=4), FakeGenerator())[0]
    record = results.read_results(run.run_dir / "results.json")
    for key in results.REQUIRED_KEYS:
        assert key in record
    assert record["model"]["weights_hash"] == "sha256:w0" and record["protocol"] == "mgm"
    assert record["environment"]["packages"]["torch"]
    assert record["scores"]["n"] == 4 and record["primary_metric"] == "accuracy"
    line = results.read_samples(run.run_dir)[0]
    assert {"doc_id", "prompt", "response", "extracted", "target", "score"} <= set(line)
    assert line["prompt"].startswith("USER: <image>\n")


def test_config_mismatch_on_resume_fails_before_any_work(tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "data", n=4)
    _run(tmp_path, task, FakeGenerator())
    other = FakeGenerator()
    other.info["dtype"] = "bfloat16"
    with pytest.raises(UserInputError, match=r"dtype='float32'.*--fresh"):
        _run(tmp_path, task, other)
    assert other.calls == []
    assert _run(tmp_path, task, other, fresh=True)[0].n_computed == 4


@pytest.mark.parametrize("generator_class", [FakeGenerator, FakeSampleGenerator])
def test_corrupted_image_names_the_sample_and_keeps_finished_work(tmp_path: Path, generator_class) -> None:
    task = FakeTask(tmp_path / "data", n=8)
    (tmp_path / "data" / "images" / "img_005.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"doc_id q005.*could not be decoded"):
        _run(tmp_path, task, generator_class(), batch_size=2, num_workers=1)
    stored = store.load_predictions(tmp_path / "out" / "fake-model" / "fake_vqa", "mgm")
    assert len(stored) >= 2  # batches finished before the bad sample are on disk


def test_bad_arguments_fail_fast(tmp_path: Path) -> None:
    task, generator = FakeTask(tmp_path / "data", n=2), FakeGenerator()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(UserInputError, match="not writable.*--output"):
        evaluate(generator, [task], output_dir=blocker / "sub", progress=False)
    with pytest.raises(UserInputError, match="does not exist.*--model"):
        evaluate(tmp_path / "no_such_checkpoint", [task], output_dir=tmp_path / "o", progress=False)
    with pytest.raises(UserInputError, match="protocol"):
        evaluate(generator, [task], protocol="vlmevalkit", output_dir=tmp_path / "o", progress=False)
    assert generator.calls == []


def test_dataloader_workers_give_the_same_predictions(tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "data", n=7)
    serial = _run(tmp_path / "a", task, FakeGenerator(), num_workers=0)[0]
    workers = _run(tmp_path / "b", task, FakeGenerator(), num_workers=2)[0]
    per_sample = FakeSampleGenerator()
    sample_workers = _run(tmp_path / "c", task, per_sample, num_workers=2)[0]
    assert _comparable(serial) == _comparable(workers) == _comparable(sample_workers)
    assert per_sample.calls == [1, 2, 4]  # the planned batches, collated from per-sample work
