"""The training loop on a tiny checkpoint: loss goes down, frozen parts stay bit-identical, checkpoints reload
with identical logits, resume continues with identical losses, DeepSpeed ZeRO-2 trains like torch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from mg_model.train import TrainConfig, train
from mg_model.train.synthetic import SyntheticSpec, write_dataset
from mg_model.train.trainer import find_last_checkpoint

ENCODER_MARK = ("vision_tower",)


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 synthetic training images with one-digit answers."""
    return write_dataset(tmp_path_factory.mktemp("synth"), SyntheticSpec(digits=1), n_train=16, n_test=4, seed=0)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(checkpoint: Path, data: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(model_path=str(checkpoint), data_path=str(data / "train.json"), image_folder=str(data),
                  output_dir=str(out), stage="finetune", template="vicuna_v1", max_steps=6, per_device_batch=4,
                  lr=1e-3, warmup_ratio=0.0, progress=False, seed=0)
    values.update(overrides)
    return TrainConfig(**values)


def _tensors(checkpoint: Path) -> dict[str, torch.Tensor]:
    tensors = {}
    for shard in sorted(Path(checkpoint).glob("model-*.safetensors")):
        with safe_open(str(shard), framework="pt") as handle:
            for key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    return tensors


def _logits(model, checkpoint: Path, data: Path) -> torch.Tensor:
    from PIL import Image

    from mg_model.processing_mgm import MGMProcessor

    processor = MGMProcessor.from_pretrained(checkpoint)
    image = Image.open(data / "images" / "test_00000.jpg")
    batch = processor(images=[image, None], texts=["What is the number on the sign?", "Say hi."])
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def test_finetune_lowers_loss_keeps_encoders_and_reloads_identically(tiny_checkpoint, synth_data, tmp_path) -> None:
    from mg_model import MGMForCausalLM

    result = train(_config(tiny_checkpoint, synth_data, tmp_path / "ft", max_steps=8))
    assert result.global_step == 8 and len(result.losses) == 8 and result.backend == "torch"
    assert sum(result.losses[-2:]) / 2 < result.losses[0] - 0.2, result.losses
    before, after = _tensors(tiny_checkpoint), _tensors(result.output_dir)
    assert before.keys() == after.keys()
    for key in before:
        frozen = any(mark in key for mark in ENCODER_MARK)
        assert torch.equal(before[key], after[key]) == frozen, key  # encoders identical, everything else trained
    reloaded = MGMForCausalLM.from_pretrained(result.output_dir, torch_dtype=torch.float32)
    assert torch.equal(_logits(result.model, result.output_dir, synth_data),
                       _logits(reloaded, result.output_dir, synth_data))
    assert (result.output_dir / "mm_projector.bin").is_file()


def test_pretrain_stage_trains_only_projector_and_mining(tiny_checkpoint, synth_data, tmp_path) -> None:
    result = train(_config(tiny_checkpoint, synth_data, tmp_path / "pt", stage="pretrain", template="plain",
                           max_steps=2))
    before, after = _tensors(tiny_checkpoint), _tensors(result.output_dir)
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed and all("mm_projector" in key or "vlm_uni" in key for key in changed), sorted(changed)[:5]
    adapter = torch.load(result.output_dir / "mm_projector.bin", weights_only=True)
    assert any("vlm_uni" in key for key in adapter) and any("mm_projector" in key for key in adapter)


def test_resume_continues_with_identical_losses(tiny_checkpoint, synth_data, tmp_path) -> None:
    full = train(_config(tiny_checkpoint, synth_data, tmp_path / "full", save_steps=3, grad_accum=2))
    checkpoint = find_last_checkpoint(tmp_path / "full")
    assert checkpoint is not None and checkpoint.name == "checkpoint-3"
    # An interrupted run: its output folder holds only what was saved at step 3.
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    shutil.copytree(checkpoint, crashed / checkpoint.name)
    resumed = train(_config(tiny_checkpoint, synth_data, crashed, save_steps=3, grad_accum=2))
    assert resumed.resumed_from == 3
    assert resumed.losses[:3] == full.losses[:3]  # carried over from the checkpoint
    assert resumed.losses[3:] == full.losses[3:]  # recomputed after resume: identical
    assert torch.equal(_tensors(resumed.output_dir)["lm_head.weight"], _tensors(full.output_dir)["lm_head.weight"])


def test_rerunning_a_finished_run_neither_retrains_nor_overwrites(tiny_checkpoint, synth_data, tmp_path) -> None:
    from mg_model.train import TrainingInputError

    config = _config(tiny_checkpoint, synth_data, tmp_path / "done", max_steps=2, save_steps=1)
    first = train(config)
    files = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in first.output_dir.rglob("*") if path.is_file()}
    again = train(config)
    assert again.already_finished and again.global_step == 2 and again.losses == first.losses
    assert again.model is None  # nothing was loaded or trained
    assert {path: (path.stat().st_mtime_ns, path.read_bytes())
            for path in first.output_dir.rglob("*") if path.is_file()} == files
    with pytest.raises(TrainingInputError, match=r"already holds a finished model.*lr: 0\.001 -> 0\.002"):
        train(_config(tiny_checkpoint, synth_data, tmp_path / "done", max_steps=2, save_steps=1, lr=2e-3))
    with pytest.raises(TrainingInputError, match=r"already holds a finished model.*--no-resume"):
        train(_config(tiny_checkpoint, synth_data, tmp_path / "done", max_steps=2, save_steps=1, resume=False))
    assert {path: (path.stat().st_mtime_ns, path.read_bytes())
            for path in first.output_dir.rglob("*") if path.is_file()} == files


def test_mining_off_makes_the_hr_branch_contribute_nothing(tiny_checkpoint, synth_data, tmp_path) -> None:
    result = train(_config(tiny_checkpoint, synth_data, tmp_path / "nomine", max_steps=2, mining=False))
    model = result.model.eval()
    images = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        with_hr = model.encode_images(images, torch.randn(2, 3, 128, 128))
        without_hr = model.encode_images(images, None)
    assert torch.equal(with_hr, without_hr)


def test_deepspeed_zero2_trains_like_torch(tiny_checkpoint, synth_data, tmp_path) -> None:
    pytest.importorskip("deepspeed")
    common = dict(max_steps=3, grad_accum=2, per_device_batch=2, max_grad_norm=0.0)
    plain = train(_config(tiny_checkpoint, synth_data, tmp_path / "torch", **common))
    zero2 = train(_config(tiny_checkpoint, synth_data, tmp_path / "zero2", deepspeed="zero2", save_steps=2, **common))
    assert zero2.backend == "deepspeed"
    assert zero2.losses == pytest.approx(plain.losses, rel=1e-4)
    assert (tmp_path / "zero2" / "checkpoint-2" / "deepspeed").is_dir()
    assert (zero2.output_dir / "config.json").is_file()
    crashed = tmp_path / "zero2-crashed"
    shutil.copytree(tmp_path / "zero2" / "checkpoint-2", crashed / "checkpoint-2")
    resumed = train(_config(tiny_checkpoint, synth_data, crashed, deepspeed="zero2", save_steps=2, **common))
    assert resumed.resumed_from == 2 and resumed.losses == zero2.losses  # DeepSpeed state restores exactly


@pytest.mark.filterwarnings("error::FutureWarning")  # our call uses transformers' current API (no deprecation)
def test_gradient_checkpointing_gives_the_same_losses(tiny_checkpoint, synth_data, tmp_path) -> None:
    common = dict(max_steps=2, per_device_batch=2)
    plain = train(_config(tiny_checkpoint, synth_data, tmp_path / "plain", **common))
    checkpointed = train(_config(tiny_checkpoint, synth_data, tmp_path / "gc", gradient_checkpointing=True, **common))
    assert checkpointed.model.model.gradient_checkpointing
    assert checkpointed.losses == pytest.approx(plain.losses, rel=1e-5)


def test_bf16_autocast_trains(tiny_checkpoint, synth_data, tmp_path) -> None:
    result = train(_config(tiny_checkpoint, synth_data, tmp_path / "bf16", bf16=True, max_steps=4))
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert result.losses[-1] < result.losses[0]
    assert next(result.model.parameters()).dtype == torch.float32  # fp32 master weights, bf16 compute
