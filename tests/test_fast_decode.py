"""Decode options (mg_model.generation.fast_decode): official defaults, greedy tokens equal to the default path, recorded."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

from mg_model import IMAGE_TOKEN_INDEX, MGMForCausalLM, build_tiny_model
from mg_model.generation.fast_decode import (
    DecodeOptions,
    apply_decode_options,
    generate_kwargs,
    llm_attention,
)

PROMPTS = [[1, 300, 301, 13, IMAGE_TOKEN_INDEX, 13, 400, 401, 402, 403, 404], [1, 310, IMAGE_TOKEN_INDEX, 13, 410],
           [1, 320, 321, 322, 13, IMAGE_TOKEN_INDEX, 13, 420, 421]]


def _batch(hd: bool = False) -> dict[str, torch.Tensor]:
    length = max(len(p) for p in PROMPTS)
    generator = torch.Generator().manual_seed(1)
    shape = (3, 5, 3, 56, 56) if hd else (3, 3, 56, 56)
    return {"input_ids": torch.tensor([[0] * (length - len(p)) + p for p in PROMPTS]),
            "attention_mask": torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in PROMPTS]),
            "images": torch.randn(*shape, generator=generator),
            "images_aux": torch.randn(3, 3, 256 if hd else 128, 256 if hd else 128, generator=generator)}


@functools.cache
def _tiny(hd: bool) -> MGMForCausalLM:
    return build_tiny_model(seed=3, hd=hd)


def _greedy(model: MGMForCausalLM, options: DecodeOptions, hd: bool = False, new: int = 12) -> torch.Tensor:
    apply_decode_options(model, options)
    try:
        return model.generate(**_batch(hd), max_new_tokens=new, do_sample=False, eos_token_id=2, pad_token_id=0,
                              **generate_kwargs(options, "cpu"))
    finally:
        apply_decode_options(model, DecodeOptions())


def test_default_is_the_official_eager_attention(tiny_checkpoint: Path) -> None:
    """transformers 4.36.2 + torch 2.0.1 (the official pin) ran eager attention; so do we by default."""
    assert DecodeOptions().is_official and DecodeOptions().as_dict() == {"attn": "eager", "cache": "dynamic",
                                                                         "compile": False}
    model = MGMForCausalLM.from_pretrained(str(tiny_checkpoint))
    assert llm_attention(model) == "eager"
    apply_decode_options(model, DecodeOptions(attn="sdpa"))
    assert llm_attention(model) == "sdpa"
    assert model.model.vision_tower.vision_tower.vision_model.config._attn_implementation == "eager"  # CLIP untouched
    assert DecodeOptions(compile=True).cache == "static"
    with pytest.raises(ValueError, match="attn='flash'"):
        DecodeOptions(attn="flash")


def test_from_pretrained_honours_attn_implementation(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``attn_implementation="sdpa"`` switches the LLM to the SDPA kernel (as ``DecodeOptions(attn="sdpa")``);
    the default stays eager; a kernel MGM does not support is refused, not dropped."""
    from mg_model import MGMConfigError

    calls: list[int] = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention",
                        lambda *args, **kwargs: calls.append(1) or sdpa(*args, **kwargs))
    batch = _batch()
    kernels = {}
    for requested in (None, "eager", "sdpa"):
        extra = {} if requested is None else {"attn_implementation": requested}
        model = MGMForCausalLM.from_pretrained(str(tiny_checkpoint), **extra)
        calls.clear()
        with torch.no_grad():
            model(input_ids=batch["input_ids"][:1], attention_mask=batch["attention_mask"][:1],
                  images=batch["images"][:1], images_aux=batch["images_aux"][:1])
        kernels[requested] = (llm_attention(model), len(calls) > 0)
    assert kernels == {None: ("eager", False), "eager": ("eager", False), "sdpa": ("sdpa", True)}
    with pytest.raises(MGMConfigError, match="attn_implementation='flash_attention_2' is not supported"):
        MGMForCausalLM.from_pretrained(str(tiny_checkpoint), attn_implementation="flash_attention_2")


@pytest.mark.parametrize("hd", [False, True])
@pytest.mark.parametrize("options", [DecodeOptions(attn="sdpa"), DecodeOptions(cache="static"),
                                     DecodeOptions(attn="sdpa", cache="static")], ids=["sdpa", "static", "both"])
def test_fast_options_give_the_default_greedy_tokens(options: DecodeOptions, hd: bool) -> None:
    model = _tiny(hd)
    assert torch.equal(_greedy(model, options, hd), _greedy(model, DecodeOptions(), hd))


@pytest.mark.slow
def test_compiled_static_decode_gives_the_default_greedy_tokens() -> None:
    """torch.compile (inductor) of the decode step on CPU: ~2-3 min of compilation on the shared box."""
    model = build_tiny_model(seed=3)
    assert torch.equal(_greedy(model, DecodeOptions(compile=True)), _greedy(model, DecodeOptions()))


def test_prefill_computes_logits_for_the_last_position_only() -> None:
    """generate passes logits_to_keep=1: lm_head never sees [B, T, H] (exact; no [B, T, vocab] tensor)."""
    model = _tiny(False)
    seen: list[tuple[int, ...]] = []
    hook = model.lm_head.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    try:
        _greedy(model, DecodeOptions(), new=3)
    finally:
        hook.remove()
    assert seen and all(shape[1] == 1 for shape in seen), seen


def test_options_are_in_the_fingerprint_and_results(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from mg_eval.engine import evaluate

    common = {"tasks": ["mme"], "limit": 2, "batch_size": 2, "num_workers": 0, "progress": False,
              "generation_overrides": {"max_new_tokens_cap": 4}, "data_paths": None}
    from mg_eval.tasks import get_task

    common["data_paths"] = {"mme": str(get_task("mme").sample_path)}
    default = evaluate(str(tiny_checkpoint), output_dir=tmp_path, **common)[0]
    fast = evaluate(str(tiny_checkpoint), output_dir=tmp_path, decode={"attn": "sdpa"}, **common)[0]
    assert default.results["model"]["decode"] == {"attn": "eager", "cache": "dynamic", "compile": False}
    assert fast.results["model"]["decode"]["attn"] == "sdpa"
    assert fast.n_computed == 2 and fast.n_resumed == 0  # another attention kernel: new fingerprints
    samples = [[json.loads(line) for line in (run.run_dir / "samples.jsonl").read_text().splitlines()]
               for run in (default, fast)]
    assert [s["response"] for s in samples[0]] == [s["response"] for s in samples[1]]
    assert {s["fingerprint"] for s in samples[0]}.isdisjoint(s["fingerprint"] for s in samples[1])
    again = evaluate(str(tiny_checkpoint), output_dir=tmp_path, decode={"attn": "eager"}, **common)[0]
    assert again.n_resumed == 2
    from mg_eval.errors import UserInputError

    with pytest.raises(UserInputError, match="attn"):
        evaluate(str(tiny_checkpoint), output_dir=tmp_path, decode={"attn": "flash"}, **common)


def test_cli_records_the_options(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    from mg_eval.cli.main import main
    from mg_eval.engine import results

    argv = ["run", "--model", str(tiny_checkpoint), "--tasks", "mme", "--sample-data", "--limit", "2",
            "--num-workers", "0", "--max-new-tokens-cap", "3", "--no-progress", "--output", str(tmp_path)]
    assert main([*argv, "--attn", "sdpa", "--continuous"]) == 0
    record = results.read_results(results.find_runs(tmp_path)[0])
    assert record["model"]["decode"]["attn"] == "sdpa" and record["run_config"]["continuous"] is True
    assert main([*argv, "--continuous", "--compile"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
