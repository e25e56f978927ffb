"""Continuous batching (mg_model.generation.continuous, mg_eval.engine.continuous): same greedy tokens as the static path."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import torch

from mg_model import IMAGE_TOKEN_INDEX, build_tiny_model
from mg_model.generation.continuous import ContinuousDecoder, Request, supports_continuous

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from suite_workload import force_lengths  # noqa: E402


def _requests(count: int, seed: int = 0) -> list[Request]:
    rng, generator = random.Random(seed), torch.Generator().manual_seed(seed)
    requests = []
    for index in range(count):
        length = rng.randint(3, 14)
        ids = [1] + [rng.randint(3, 800) for _ in range(length)]
        ids[rng.randint(1, length)] = IMAGE_TOKEN_INDEX
        inputs = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                  "images": torch.randn(1, 3, 56, 56, generator=generator),
                  "images_aux": torch.randn(1, 3, 128, 128, generator=generator)}
        requests.append(Request(index, inputs, max_new_tokens=16, state=rng.choice([1, 2, 5, 9, 16])))
    return requests


def _until_eos(row: list[int], eos: int = 2) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


def test_refilled_rows_get_the_tokens_of_static_generate() -> None:
    """Long-tailed forced lengths: rows finish at different steps and are refilled; tokens equal generate's."""
    model = build_tiny_model(seed=5)
    assert supports_continuous(model)
    requests = _requests(9)
    lengths = torch.tensor([r.state for r in requests])
    from transformers.generation.logits_process import LogitsProcessorList

    class Forced:
        def __call__(self, input_ids, scores):
            return force_lengths(scores, lengths[batch_index], torch.full((len(batch_index),), input_ids.shape[1]), 2)

    static = {}
    for start in range(0, len(requests), 3):  # static batches of 3, left padded, as the engine's
        batch_index = list(range(start, start + 3))
        chunk = [requests[i] for i in batch_index]
        width = max(r.inputs["input_ids"].shape[1] for r in chunk)
        ids = torch.stack([torch.cat([torch.zeros(width - r.inputs["input_ids"].shape[1], dtype=torch.long),
                                      r.inputs["input_ids"][0]]) for r in chunk])
        out = model.generate(input_ids=ids, attention_mask=(ids != 0).long(),
                             images=torch.cat([r.inputs["images"] for r in chunk]),
                             images_aux=torch.cat([r.inputs["images_aux"] for r in chunk]), max_new_tokens=16,
                             do_sample=False, eos_token_id=2, pad_token_id=0,
                             logits_processor=LogitsProcessorList([Forced()]))
        static.update((i, _until_eos(row)) for i, row in zip(batch_index, out.tolist()))
    decoder = ContinuousDecoder(model, 3, [2], row_processor=lambda states, steps, scores: force_lengths(
        scores, torch.tensor(states), steps, 2))
    continuous = dict(decoder.run(requests))
    assert continuous == static
    assert [len(continuous[r.key]) for r in requests] == [r.state for r in requests]
    assert decoder.steps < sum(max(lengths[i:i + 3].tolist()) + 1 for i in range(0, 9, 3))  # fewer forward passes


def test_plain_greedy_with_max_new_tokens_and_batch_one_equivalence() -> None:
    model = build_tiny_model(seed=7)
    requests = _requests(5, seed=3)
    alone = {r.key: _until_eos(model.generate(**r.inputs, max_new_tokens=16, do_sample=False, eos_token_id=2,
                                              pad_token_id=0)[0].tolist()) for r in requests}
    assert dict(ContinuousDecoder(model, 2, [2]).run(requests)) == alone


def test_engine_continuous_equals_static(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from mg_eval.engine import evaluate
    from mg_eval.errors import UserInputError
    from mg_eval.tasks import get_task

    common = {"tasks": ["mme"], "limit": 6, "batch_size": 4, "num_workers": 0, "progress": False,
              "generation_overrides": {"max_new_tokens_cap": 6},
              "data_paths": {"mme": str(get_task("mme").sample_path)}}
    static = evaluate(str(tiny_checkpoint), output_dir=tmp_path / "s", **common)[0]
    cont = evaluate(str(tiny_checkpoint), output_dir=tmp_path / "c", continuous=True, **common)[0]
    assert cont.results["run_config"]["continuous"] is True and static.results["run_config"]["continuous"] is False
    lines = [(run.run_dir / "samples.jsonl").read_text() for run in (static, cont)]
    assert lines[0] == lines[1]  # same responses, fingerprints and scores, line for line
    assert cont.results["scores"] == static.results["scores"]
    with pytest.raises(UserInputError, match="--compile"):
        evaluate(str(tiny_checkpoint), output_dir=tmp_path / "x", continuous=True, decode={"compile": True}, **common)


def test_continuous_applies_to_greedy_full_attention_only() -> None:
    from mg_eval.engine.continuous import applies

    class Streaming:  # a StreamingGenerator (mg_eval.api): the engine checks the protocol, not single methods
        can_stream = True
        info: dict = {}
        template_id = "fake"

        def render_prompt(self, text, has_image):
            return text

        def prepare(self, images, texts):
            return {}

        def generate(self, batch, generation):
            return []

        def split_requests(self, batch):
            return []

        def generate_stream(self, *args):
            return iter(())

    greedy = {"do_sample": False, "num_beams": 1}
    assert applies(Streaming(), greedy)
    assert not applies(Streaming(), {"do_sample": True, "num_beams": 1})
    assert not applies(Streaming(), {"do_sample": False, "num_beams": 5})
    Streaming.can_stream = False
    assert not applies(Streaming(), greedy)
    assert not supports_continuous(build_tiny_model(llm="mistral"))  # sliding-window cache layers
