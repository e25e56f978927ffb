"""Vision-feature cache + shared-prefix prefill (mg_model/generation/prefix_sharing.py, feature_cache.py): same tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mg_model import IMAGE_TOKEN_INDEX as IMG
from mg_model import build_tiny_model
from mg_model.generation.feature_cache import FeatureCache, encode_unique
from mg_model.generation.prefix_sharing import plan_shared_prefixes

# rows 0, 1, 4 share image 0 and "1 300 301 <img> 13"; row 1 also shares "400" with row 0; row 3 is text only
PROMPTS = [[1, 300, 301, IMG, 13, 400, 401, 402], [1, 300, 301, IMG, 13, 400, 405],
           [1, 300, 301, IMG, 13, 410, 411, 412, 413], [1, 320, 321], [1, 300, 301, IMG, 99]]
WHICH_IMAGE = [0, 0, 1, 0, 0]
DECODING = [
    {"do_sample": False, "num_beams": 1},
    {"do_sample": False, "num_beams": 3},
    {"do_sample": True, "num_beams": 2, "top_p": 0.9, "temperature": 0.7},  # beam sampling (MMMU mgm)
    {"do_sample": True, "num_beams": 1, "temperature": 0.5, "sample_seeds": [1, 2, 3, 4, 5]},
]


def _batch(prompts: list[list[int]], hd: bool = False) -> dict:
    length = max(len(p) for p in prompts)
    generator = torch.Generator().manual_seed(0)
    views = (2, 5, 3, 56, 56) if hd else (2, 3, 56, 56)
    images = torch.randn(*views, generator=generator)
    aux = torch.randn(2, 3, 256 if hd else 128, 256 if hd else 128, generator=generator)
    return {"input_ids": torch.tensor([[0] * (length - len(p)) + p for p in prompts]),
            "attention_mask": torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts]),
            "images": images[WHICH_IMAGE[: len(prompts)]], "images_aux": aux[WHICH_IMAGE[: len(prompts)]]}


@pytest.fixture(scope="module")
def models():
    return {False: build_tiny_model(seed=3), True: build_tiny_model(hd=True, seed=3)}


def test_plan_groups_rows_by_image_and_prefix() -> None:
    batch = _batch(PROMPTS)
    keys = [f"k{i}" for i in WHICH_IMAGE]
    plan = plan_shared_prefixes(batch["input_ids"], batch["attention_mask"], keys)
    assert plan.group_of_row == [0, 0, 1, 2, 0]
    assert plan.representatives == [0, 2, 3]
    # group 0: common prefix of rows 0, 1, 4 is "1 300 301 <img>" + nothing more (row 4 has 99)
    assert plan.prefix_tokens == [4, 8, 2]  # lone rows: all but their last token
    two = plan_shared_prefixes(batch["input_ids"][:2], batch["attention_mask"][:2], keys[:2])
    assert two.prefix_tokens == [6]  # rows 0 and 1 share through token 400


def test_plan_refuses_what_it_cannot_share() -> None:
    assert plan_shared_prefixes(torch.tensor([[1, 5, IMG]]), torch.ones(1, 3, dtype=torch.long), ["a"]) is None
    two_images = torch.tensor([[1, IMG, 5, IMG, 6]])
    assert plan_shared_prefixes(two_images, torch.ones_like(two_images), ["a"]) is None


@pytest.mark.parametrize("hd", [False, True])
@pytest.mark.parametrize("decoding", DECODING, ids=["greedy", "beam3", "beam-sample", "seeded-sample"])
def test_sharing_gives_the_plain_tokens_and_scores(models, hd: bool, decoding: dict) -> None:
    model, batch = models[hd], _batch(PROMPTS, hd)
    keys = [f"k{i}" for i in WHICH_IMAGE]
    options = {"max_new_tokens": 6, "pad_token_id": 0, "eos_token_id": 2, "return_dict_in_generate": True,
               "output_scores": True, **decoding}
    torch.manual_seed(0)
    plain = model.generate(**batch, **options)
    torch.manual_seed(0)
    cache = FeatureCache()
    shared = model.generate(**batch, **options, image_keys=keys, feature_cache=cache, share_prefix=True)
    assert shared.sequences.tolist() == plain.sequences.tolist()
    for got, want in zip(shared.scores, plain.scores):
        finite = torch.isfinite(want)
        assert torch.equal(torch.isfinite(got), finite)
        torch.testing.assert_close(got[finite], want[finite], rtol=1e-5, atol=1e-5)
    assert cache.stats()["misses"] == 2 and cache.stats()["entries"] == 2  # two distinct images, once each


def test_shared_prefill_runs_the_llm_over_fewer_positions(models) -> None:
    model, batch = models[False], _batch(PROMPTS)
    positions = []
    handle = model.model.layers[0].register_forward_pre_hook(
        lambda module, args, kwargs: positions.append((args[0] if args else kwargs["hidden_states"]).shape[:2]),
        with_kwargs=True)
    try:
        model.generate(**batch, max_new_tokens=1, pad_token_id=0, eos_token_id=2, num_beams=3)
        plain = sum(b * n for b, n in positions)
        positions.clear()
        model.generate(**batch, max_new_tokens=1, pad_token_id=0, eos_token_id=2, num_beams=3,
                       image_keys=[f"k{i}" for i in WHICH_IMAGE], share_prefix=True)
        shared = sum(b * n for b, n in positions)
    finally:
        handle.remove()
    assert shared < plain / 2  # 3 prefixes once + suffixes x 3 beams, against 5 prompts x 3 beams


def test_feature_cache_is_bounded_and_encodes_each_key_once() -> None:
    calls = []

    def encode(images: torch.Tensor, aux: torch.Tensor | None) -> torch.Tensor:
        calls.append(images.shape[0])
        return images.reshape(images.shape[0], 1, -1) * 2

    images = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    cache = FeatureCache(max_bytes=2 * 4 * 4)  # room for two entries of 4 fp32
    out = encode_unique(encode, images[[0, 1, 0]], None, ["a", "b", "a"], cache)
    assert calls == [2] and torch.equal(out[2], out[0])
    encode_unique(encode, images[[2]], None, ["c"], cache)  # evicts "a"
    assert cache.stats()["evictions"] == 1 and cache.stats()["entries"] == 2
    encode_unique(encode, images[[1, 0]], None, ["b", "a"], cache)
    assert calls == [2, 1, 1] and cache.hits >= 1


@pytest.mark.parametrize("protocol", ["mgm", pytest.param("lmms", marks=pytest.mark.slow)])
def test_every_bundled_sample_of_every_task_is_the_same_with_and_without_sharing(
        tiny_checkpoint: Path, tmp_path: Path, protocol: str) -> None:
    from mg_eval.engine import evaluate
    from mg_eval.models.mgm import MGMGenerator
    from mg_eval.tasks import resolve_tasks

    tasks = resolve_tasks(["mgm_paper"])
    generator = MGMGenerator.from_pretrained(tiny_checkpoint, dtype="float32", device="cpu")
    data = {task.name: str(task.sample_path) for task in tasks}
    outcomes = {}
    for share in (False, True):
        outcomes[share] = evaluate(generator, tasks, protocol=protocol, batch_size=4, output_dir=tmp_path / str(share),
                                   num_workers=0, data_paths=data, generation_overrides={"max_new_tokens_cap": 8},
                                   progress=False, share=share)
    encoded = 0
    for plain, shared in zip(outcomes[False], outcomes[True]):
        assert shared.results["run_config"]["share"]["enabled"] is True
        assert plain.results["run_config"]["share"] == {"enabled": False, "feature_cache": None}
        encoded += shared.results["run_config"]["share"]["feature_cache"]["misses"]
        assert json.dumps(shared.results["scores"], sort_keys=True) == json.dumps(plain.results["scores"], sort_keys=True)
        lines = [(run_dir / "samples.jsonl").read_text().splitlines() for run_dir in (plain.run_dir, shared.run_dir)]
        responses = [[json.loads(line)["response"] for line in part] for part in lines]
        assert responses[0] == responses[1], plain.task_name
    n_samples = sum(outcome.results["n_samples"]["total"] for outcome in outcomes[True])
    assert encoded <= n_samples - 8  # MME (8 samples, 4 images) and MMBench (6 samples, 2 images) repeat images


@pytest.mark.parametrize("llm", ["gemma", "mixtral"])
def test_sharing_with_other_llms(llm: str) -> None:
    model, batch = build_tiny_model(llm, seed=3), _batch(PROMPTS)
    options = {"max_new_tokens": 5, "pad_token_id": 0, "eos_token_id": 2, "do_sample": False, "num_beams": 3}
    plain = model.generate(**batch, **options)
    shared = model.generate(**batch, **options, image_keys=[f"k{i}" for i in WHICH_IMAGE], share_prefix=True)
    assert shared.tolist() == plain.tolist()
