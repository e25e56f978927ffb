"""The backend seam: backends found by entry point, options checked against what they declare, the backend
named in results and in every prediction's fingerprint, never mixed on resume, old ``mgm`` stores still valid."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import FakeBackend, FakeGenerator, FakeTask, register_entry_points

from mg_eval.backends import DecodingChoice, installed_backends, load_backend
from mg_eval.cli.main import main
from mg_eval.engine import evaluate
from mg_eval.errors import UserInputError


class FallbackBackend(FakeBackend):
    """Decodes a sampling task greedily, recorded as a departure from the protocol."""

    name = "fake-fallback"

    def decoding_for(self, task_name: str, generation: Mapping[str, Any]) -> DecodingChoice:
        if not generation.get("do_sample"):
            return super().decoding_for(task_name, generation)
        return DecodingChoice(dict(generation) | {"do_sample": False, "seed": None}, "greedy",
                              departure="sampling decoded greedily by fake-fallback")


@pytest.fixture
def fake_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Registers ``fake-vlm`` and ``fake-fallback`` the way an installed package would (entry points)."""
    site = register_entry_points(tmp_path / "site", {"fake-vlm": "engine_fakes:FakeBackend",
                                                     "fake-fallback": "test_backends:FallbackBackend"})
    monkeypatch.syspath_prepend(str(site))
    FakeBackend.built.clear()
    monkeypatch.setattr(FakeBackend, "version_string", "1.0")
    model = tmp_path / "some-vlm"
    model.mkdir()
    return model


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_the_reference_backend_is_installed() -> None:
    assert "mgm" in installed_backends()
    backend = load_backend("mgm")
    assert backend.name == "mgm" and backend.capabilities.decoding == {"greedy", "beam", "sampling"}


def test_the_engine_runs_a_backend_it_knows_only_by_entry_point(fake_backends: Path, tmp_path: Path) -> None:
    assert "fake-vlm" in installed_backends()
    task = FakeTask(tmp_path / "task", n=6)
    [outcome] = evaluate(str(fake_backends), [task], output_dir=tmp_path / "out", progress=False, num_workers=0,
                         backend="fake-vlm", backend_options={"temperature_bias": 0})
    assert FakeBackend.built == [str(fake_backends)]
    assert outcome.model_name == "some-vlm+fake-vlm"  # other backends' runs never share the mgm folder
    assert outcome.run_dir.parent.parent.name == "some-vlm+fake-vlm"
    record = json.loads((outcome.run_dir / "results.json").read_text())
    assert record["backend"] == {"name": "fake-vlm", "version": "1.0", "options": {"temperature_bias": 0},
                                 "decoding": {"mode": "greedy", "departure": None}}
    header = json.loads((outcome.run_dir.parent / ".store" / "mgm.jsonl").read_text().splitlines()[0])
    assert header["backend"] == "fake-vlm"


def test_the_cli_runs_a_registered_backend_on_sample_data(fake_backends: Path, tmp_path: Path) -> None:
    code, err = _cli(["run", "--backend", "fake-vlm", "--model", str(fake_backends), "--tasks", "textvqa_val",
                      "--sample-data", "--output", str(tmp_path / "out"), "--no-progress", "--num-workers", "0"])
    assert code == 0, err
    [results_file] = (tmp_path / "out" / "some-vlm+fake-vlm" / "textvqa_val").glob("*/results.json")
    assert json.loads(results_file.read_text())["backend"]["name"] == "fake-vlm"


def test_an_unknown_backend_is_one_error_line_listing_the_installed_ones(fake_backends: Path) -> None:
    code, err = _cli(["run", "--backend", "nope", "--model", str(fake_backends), "--tasks", "textvqa_val",
                      "--sample-data"])
    line = _error_line(err)
    assert code == 2 and "--backend 'nope'" in line and "fake-vlm" in line and "mgm" in line


@pytest.mark.parametrize("flags, named", [
    (["--compile"], "--compile"), (["--attn", "sdpa"], "--attn sdpa"), (["--continuous"], "--continuous"),
    (["--device", "cuda"], "--device cuda"), (["--backend-option", "beam_width=4"], "--backend-option beam_width"),
])
def test_an_option_the_backend_does_not_declare_is_refused(fake_backends: Path, tmp_path: Path, flags: list[str],
                                                            named: str) -> None:
    code, err = _cli(["run", "--backend", "fake-vlm", "--model", str(fake_backends), "--tasks", "textvqa_val",
                      "--sample-data", "--output", str(tmp_path / "out"), *flags])
    line = _error_line(err)
    assert code == 2 and named in line and "'fake-vlm'" in line, line
    assert FakeBackend.built == []


def test_a_decoding_mode_the_backend_lacks_fails_before_the_model_is_built(fake_backends: Path,
                                                                           tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "task", n=3, name="fake_sampling", do_sample=True)
    with pytest.raises(UserInputError, match=r"task fake_sampling: backend 'fake-vlm' cannot decode sampling"):
        evaluate(str(fake_backends), [task], output_dir=tmp_path / "out", progress=False, num_workers=0,
                 backend="fake-vlm")
    assert FakeBackend.built == []


def test_a_decoding_fallback_is_recorded_and_not_for_reporting(fake_backends: Path, tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "task", n=3, name="fake_sampling", do_sample=True)
    [outcome] = evaluate(str(fake_backends), [task], output_dir=tmp_path / "out", progress=False, num_workers=0,
                         backend="fake-fallback")
    record = outcome.results
    assert record["backend"]["decoding"] == {"mode": "greedy", "departure": "sampling decoded greedily by fake-fallback"}
    assert not record["for_reporting"] and record["not_for_reporting"] == ["sampling decoded greedily by fake-fallback"]
    assert record["generation"]["do_sample"] is False


def test_a_new_backend_version_recomputes_instead_of_reusing(fake_backends: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    task = FakeTask(tmp_path / "task", n=4)
    run = {"output_dir": tmp_path / "out", "progress": False, "num_workers": 0, "backend": "fake-vlm"}
    assert evaluate(str(fake_backends), [task], **run)[0].n_computed == 4
    assert evaluate(str(fake_backends), [task], **run)[0].n_resumed == 4
    monkeypatch.setattr(FakeBackend, "version_string", "2.0")
    assert evaluate(str(fake_backends), [task], **run)[0].n_computed == 4


def test_a_resume_never_switches_backend_silently(fake_backends: Path, tmp_path: Path) -> None:
    """A store written by one backend, resumed by a model of the same name from another backend: one error."""
    task = FakeTask(tmp_path / "task", n=4)
    evaluate(str(fake_backends), [task], output_dir=tmp_path / "out", progress=False, num_workers=0,
             backend="fake-vlm")
    impostor = FakeGenerator(name="some-vlm+fake-vlm")  # built elsewhere, no backend named: the default's
    with pytest.raises(UserInputError, match=r"made with backend='fake-vlm', this run uses backend='mgm'.*--fresh"):
        evaluate(impostor, [task], output_dir=tmp_path / "out", progress=False, num_workers=0)


def test_stores_made_before_backends_existed_stay_valid(tmp_path: Path) -> None:
    """An ``mgm`` store without a backend in its header or fingerprints is resumed, not recomputed."""
    task = FakeTask(tmp_path / "task", n=5)
    old = FakeGenerator(name="MGM-old")
    [first] = evaluate(old, [task], output_dir=tmp_path / "out", progress=False, num_workers=0)
    store_file = first.run_dir.parent / ".store" / "mgm.jsonl"
    lines = store_file.read_text().splitlines()
    header = json.loads(lines[0])
    header.pop("backend")  # the header as written before backends existed
    store_file.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    mgm = FakeGenerator(name="MGM-old")
    mgm.info["backend"] = {"name": "mgm", "version": "0.1.0", "options": {}}
    [again] = evaluate(mgm, [task], output_dir=tmp_path / "out", progress=False, num_workers=0)
    assert (again.n_computed, again.n_resumed) == (0, 5)
    assert again.results["backend"]["name"] == "mgm"
    assert [line["fingerprint"] for line in map(json.loads, lines[1:])] == \
        [json.loads(line)["fingerprint"] for line in store_file.read_text().splitlines()[1:]]


def test_a_broken_entry_point_is_one_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = register_entry_points(tmp_path / "site", {"broken": "no_such_module_xyz:Backend"})
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(UserInputError, match=r"--backend broken: its entry point 'no_such_module_xyz:Backend' cannot"):
        load_backend("broken")


def test_the_mgm_backend_resumes_a_store_made_before_backends_existed(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """The real reference backend: predictions stored without any backend field are reused as they are."""
    from mg_eval.models.mgm import MGMGenerator

    task = FakeTask(tmp_path / "task", n=3, max_new_tokens=3)
    run = {"output_dir": tmp_path / "out", "progress": False, "num_workers": 0}
    generator = MGMGenerator.from_pretrained(tiny_checkpoint, dtype="float32", device="cpu")
    [first] = evaluate(generator, [task], **run)  # a generator passed in names no backend: the old fingerprints
    store_file = first.run_dir.parent / ".store" / "mgm.jsonl"
    lines = store_file.read_text().splitlines()
    header = json.loads(lines[0])
    header.pop("backend")
    store_file.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    [again] = evaluate(str(tiny_checkpoint), [task], dtype="float32", device="cpu", **run)
    assert (again.model_name, again.n_computed, again.n_resumed) == (first.model_name, 0, 3)
    assert again.results["backend"]["name"] == "mgm" and again.results["backend"]["options"] == {}
    assert again.results["backend"]["decoding"] == {"mode": "greedy", "departure": None}
