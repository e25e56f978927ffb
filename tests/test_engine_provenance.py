"""Results never silently mix or destroy: per-prediction settings, external encoders in the fingerprint,
every protocol departure marked, killed results writes cleaned up, inputs cut at the context counted,
torn samples lines skipped with a warning (tiny random MGM, bundled sample data)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from mg_eval.cli.main import main
from mg_eval.engine import results
from mg_eval.engine.provenance import protocol_departures

TAIL = ["--no-progress", "--num-workers", "0", "--max-new-tokens-cap", "2"]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _run(model: Path, output: Path, *extra: str, task: str = "mme") -> tuple[dict, list[dict], str, str]:
    """``mg-eval run`` on the sample data; (results.json, samples.jsonl, stdout, stderr) of the new run."""
    code, out, err = _cli("run", "--model", str(model), "--tasks", task, "--sample-data", "--output", str(output),
                          *TAIL, *extra)
    assert code == 0, err
    latest = max(results.find_runs(output), key=lambda path: path.name)  # run ids sort by time
    return results.read_results(latest), results.read_samples(latest), out, err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mg_eval.cli.demo import tiny_checkpoint

    with contextlib.redirect_stdout(io.StringIO()):
        return tiny_checkpoint(tmp_path_factory.mktemp("cache"))


def test_resume_under_another_batch_size_says_so(tiny: Path, tmp_path: Path) -> None:
    _run(tiny, tmp_path, "--limit", "3", "--batch-size", "4")
    record, samples, out, err = _run(tiny, tmp_path, "--limit", "6", "--batch-size", "2")
    assert "[3 computed, 3 resumed]" in out
    assert record["run_config"]["batch_size"] == 2
    assert record["run_config"]["predictions_made_with"]["batch_size"] == {"2": 3, "4": 3}
    assert sorted(line["made_with"]["batch_size"] for line in samples) == [2, 2, 2, 4, 4, 4]
    assert "several batch sizes (2: 3, 4: 3" in err and "--fresh" in err


def test_fresh_starts_over_when_no_other_run_holds_the_store(tiny: Path, tmp_path: Path) -> None:
    _run(tiny, tmp_path, "--limit", "2")
    record, _, out, _ = _run(tiny, tmp_path, "--limit", "2", "--fresh")
    assert "[2 computed, 0 resumed]" in out and record["n_samples"]["resumed"] == 0


def _external_encoders(tiny: Path, root: Path) -> tuple[Path, Path]:
    """(checkpoint without encoders, encoder root): the released layout, encoders outside the checkpoint."""
    checkpoint = shutil.copytree(tiny, root / "ckpt" / "tiny-mgm", ignore=shutil.ignore_patterns("model_zoo"))
    encoders = shutil.copytree(tiny / "model_zoo", root / "encoders-a" / "model_zoo")
    return checkpoint, encoders.parent


def _perturb_aux_encoder(encoder_root: Path) -> None:
    """Change every weight of the HR (ConvNeXt) encoder a little, keeping names and shapes."""
    import torch

    weights = next(path for path in (encoder_root / "model_zoo").rglob("*") if path.is_file()
                   and "convnext" in str(path) and path.suffix in (".bin", ".safetensors"))
    if weights.suffix == ".bin":
        state = torch.load(weights, weights_only=True)
        torch.save({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, weights)
    else:
        from safetensors.torch import load_file, save_file

        state = load_file(str(weights))
        save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, str(weights))


def test_encoders_outside_the_checkpoint_are_hashed_and_recorded(tiny: Path, tmp_path: Path) -> None:
    checkpoint, encoders_a = _external_encoders(tiny, tmp_path)
    output = tmp_path / "out"
    first, samples_a, _, _ = _run(checkpoint, output, "--limit", "2", "--encoder-root", str(encoders_a))
    encoders = first["model"]["encoders"]
    assert set(encoders) == {"mm_vision_tower", "mm_vision_tower_aux"}
    for entry in encoders.values():
        assert Path(entry["path"]).is_relative_to(encoders_a.resolve()) and entry["inside_checkpoint"] is False
        assert entry["weights_hash"].startswith("sha256:")
    encoders_b = shutil.copytree(encoders_a, tmp_path / "encoders-b")
    _perturb_aux_encoder(encoders_b)
    second, samples_b, out, _ = _run(checkpoint, output, "--limit", "2", "--encoder-root", str(encoders_b))
    assert "[2 computed, 0 resumed]" in out  # other encoders: nothing reused
    assert second["model"]["weights_hash"] == first["model"]["weights_hash"]
    assert (second["model"]["encoders"]["mm_vision_tower_aux"]["weights_hash"]
            != encoders["mm_vision_tower_aux"]["weights_hash"])
    assert {s["fingerprint"] for s in samples_a}.isdisjoint({s["fingerprint"] for s in samples_b})
    _, samples_again, out, _ = _run(checkpoint, output, "--limit", "2", "--encoder-root", str(encoders_a))
    assert "[0 computed, 2 resumed]" in out and samples_again == samples_a


def test_encoders_inside_the_checkpoint_keep_the_fingerprint(tiny: Path) -> None:
    """Checkpoints with their encoders inside (covered by weights_hash) get the fingerprints they had."""
    from mg_eval.engine.provenance import encoder_identity

    info = {"encoders": {"mm_vision_tower": {"inside_checkpoint": True, "weights_hash": "sha256:a"}}}
    assert encoder_identity(info) == {} and encoder_identity({}) == {}
    outside = {"encoders": {"mm_vision_tower": {"inside_checkpoint": False, "weights_hash": "sha256:b"}}}
    assert encoder_identity(outside) == {"encoders": {"mm_vision_tower": "sha256:b"}}


def test_every_protocol_departure_makes_a_run_not_for_reporting(tiny: Path, tmp_path: Path) -> None:
    record, _, out, _ = _run(tiny, tmp_path)  # no --limit, but sample data and a max_new_tokens cap
    assert record["for_reporting"] is False and record["limit"] is None
    reasons = " | ".join(record["not_for_reporting"])
    assert "bundled sample data" in reasons and "--max-new-tokens-cap 2" in reasons
    assert "not for reporting: bundled sample data" in out


def test_protocol_departures_of_a_plain_run_are_none() -> None:
    from mg_eval.api import RunOptions
    from mg_eval.tasks import get_task

    task = get_task("mme")
    limit_free = RunOptions(data_paths={"mme": "/data/MME"}, generation_overrides={"max_new_tokens_cap": 1000})
    assert protocol_departures(task, "mgm", limit_free) == []  # a cap above the task's 128 changes nothing
    overridden = RunOptions(generation_overrides={"num_beams": 3})
    assert protocol_departures(task, "mgm", overridden) == ["generation override num_beams=3 (the protocol has 1)"]


def test_temp_files_of_a_killed_results_write_are_removed_by_the_next_run(tiny: Path, tmp_path: Path) -> None:
    record, _, _, _ = _run(tiny, tmp_path, "--limit", "1")
    task_dir = tmp_path / "tiny-mgm" / "mme"
    finished = task_dir / record["run_id"]
    left = [finished / ".results.json.k1ll3d", task_dir / "20261201T000000000000Z_mgm" / ".samples.jsonl.x9"]
    other_protocol = task_dir / "20261201T000000000000Z_lmms" / ".results.json.keep"
    for path in [*left, other_protocol]:
        path.parent.mkdir(exist_ok=True)
        path.write_text("{partial")
    _run(tiny, tmp_path, "--limit", "1")
    assert not any(path.exists() for path in left)
    assert not left[1].parent.exists()  # the run directory held nothing else
    assert (finished / "results.json").is_file() and other_protocol.exists()  # other runs untouched


def test_inputs_longer_than_the_context_are_counted_and_reported(tiny: Path, tmp_path: Path) -> None:
    checkpoint = shutil.copytree(tiny, tmp_path / "short" / "tiny-mgm")
    config = json.loads((checkpoint / "config.json").read_text())
    config["tokenizer_model_max_length"] = 60
    (checkpoint / "config.json").write_text(json.dumps(config))
    record, samples, _, err = _run(checkpoint, tmp_path / "out", "--limit", "2")
    assert record["run_config"]["context_length"] == 60
    assert record["n_samples"]["truncated"] == 2
    assert "2 of 2 inputs were longer than the model's context (60 tokens)" in err
    normal, _, _, err = _run(tiny, tmp_path / "out-normal", "--limit", "2")
    assert normal["n_samples"]["truncated"] == 0 and "longer than" not in err


def test_input_lengths_equal_the_model_splice(tiny: Path) -> None:
    """``input_lengths`` (text + visual tokens per sample) equals the spliced sequence the LLM reads."""
    import torch
    from PIL import Image

    from mg_eval.models.mgm import MGMGenerator

    generator = MGMGenerator.from_pretrained(tiny, dtype="float32", device="cpu")
    batch = generator.prepare([Image.new("RGB", (40, 30), (9, 99, 200)), None, Image.new("RGB", (8, 8))],
                              ["What is shown here?", "A question without any image at all?", "Hi"])
    with torch.inference_mode():
        spliced = generator.model.embed_multimodal(batch["input_ids"], batch["attention_mask"], batch["images"],
                                                   batch["images_aux"])
    assert generator.input_lengths(batch) == spliced["attention_mask"].sum(dim=1).tolist()


def test_score_skips_a_torn_last_samples_line_and_says_so(tiny: Path, tmp_path: Path) -> None:
    record, _, _, _ = _run(tiny, tmp_path / "out", "--limit", "3")
    run_dir = tmp_path / "out" / "tiny-mgm" / "mme" / record["run_id"]
    samples = run_dir / "samples.jsonl"
    whole = samples.read_text()
    samples.write_text(whole[: whole.rindex("\n", 0, len(whole) - 1) + 1] + whole.splitlines()[-1][:25])
    code, out, err = _cli("score", str(run_dir), "--no-write", "--judge", "none")
    assert code == 0, err
    assert f"warning: {samples}:3: torn last line" in err and "2 samples read" in err
    assert "2 samples" in out
