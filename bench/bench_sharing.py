"""Sharing off vs on, side by side in one run: vision-feature cache + shared-prefix prefill + beam prefill once.

Model: real-size random CLIP-L/336 + ConvNeXt-L/768 (mgm-7b layout) and a 7B-shaped LLM slice (LLaMA,
hidden 4096, 32 heads, intermediate 11008, 2 layers, vocab 32000), float32, eval mode. Workloads
(token ids random but laid out like the vicuna_v1 prompts: BOS + system + role tag, image, question):

* ``MME-like``: ``--images`` images x 2 questions, one batch, greedy;
* ``MMBench-like``: ``--images`` images x 4 circular rotations (same hint + question, options rotated),
  one batch, greedy;
* ``MMMU-like``: ``--images`` samples with their own image, beam 5 with sampling (the mgm protocol),
  batch 1 each (sampling tasks run at batch 1 in the engine);
* ``MMMU-like prefill`` (``mmmu_prefill``): the same with the visual tokens already in the feature
  cache in both modes, so only the LLM work differs (5 prompt prefills vs 1 + KV repeated x5).

Per workload and mode: wall seconds, samples/s, FLOPs (``FlopCounterMode`` around the same run), the
speed-up and FLOP ratio, whether the tokens are identical, and (greedy workloads) the largest
difference of the first generated position's logits. Then the whole-suite saving extrapolated with the
FLOP model of docs/roofline.md#savings-from-caching for MGM-7B and MGM-7B-HD.

    flock /work/heavy.lock python bench/bench_sharing.py --threads 2 --images 2 --new-tokens 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mg_model.generation.feature_cache import FeatureCache  # noqa: E402
from mg_model.modeling_mgm import IMAGE_TOKEN_INDEX, MGMForCausalLM  # noqa: E402
from mg_model.variants import variant_config  # noqa: E402

LLM_7B_SLICE = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 2, "num_attention_heads": 32,
                "num_key_value_heads": 32, "vocab_size": 32000}
PREFIX_TEXT = 37  # BOS + vicuna_v1 system prompt + "USER:" before <image> (tokens)
TAIL = 5  # " ASSISTANT:" after the question


def build_model() -> MGMForCausalLM:
    """Real-size encoders + the 7B-shaped 2-layer LLM, seeded random weights."""
    torch.manual_seed(0)
    config = variant_config("mgm-7b", **LLM_7B_SLICE)
    return MGMForCausalLM(config).eval()


VOCAB = [30000]  # token ids drawn below this (lowered for a small-vocabulary model)


def _ids(generator: torch.Generator, count: int) -> list[int]:
    return torch.randint(100, VOCAB[0], (count,), generator=generator).tolist()


def workload(kind: str, images: int) -> list[tuple[list[int], int]]:
    """(prompt ids with one -200, image index) per sample."""
    generator = torch.Generator().manual_seed({"mme": 1, "mmbench": 2, "mmmu": 3, "mmmu_prefill": 3}[kind])
    prefix = [1, *_ids(generator, PREFIX_TEXT - 1), IMAGE_TOKEN_INDEX]
    tail = _ids(generator, TAIL)
    samples = []
    for image in range(images):
        if kind == "mme":
            samples += [(prefix + _ids(generator, 18) + tail, image) for _ in range(2)]
        elif kind == "mmbench":
            hint_question, options = _ids(generator, 45), [_ids(generator, 7) for _ in range(4)]
            for rotation in range(4):
                rotated = options[rotation:] + options[:rotation]
                samples.append((prefix + hint_question + sum(rotated, []) + _ids(generator, 0) + tail, image))
        else:
            samples.append((prefix + _ids(generator, 70) + tail, image))
    return samples


def batches_of(kind: str, samples: list) -> list[list]:
    """MMMU-like: one sample per batch (sampling); otherwise the whole workload in one batch."""
    return [[sample] for sample in samples] if kind.startswith("mmmu") else [samples]


def collate(batch: list, pixels: dict[str, torch.Tensor]) -> dict:
    """Left-padded inputs for ``generate``; keys = image index (equal index = equal pixels)."""
    length = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([[0] * (length - len(p)) + p for p, _ in batch])
    mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p, _ in batch])
    which = [image for _, image in batch]
    return {"input_ids": ids, "attention_mask": mask, "images": pixels["images"][which],
            "images_aux": pixels["images_aux"][which], "keys": [f"image{image}" for image in which]}


def decoding(kind: str, new_tokens: int) -> dict:
    """Greedy, or the MMMU mgm protocol (beam 5 with sampling, temperature 1)."""
    options = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "pad_token_id": 0, "eos_token_id": 2,
               "return_dict_in_generate": True, "output_scores": True}
    if kind.startswith("mmmu"):
        return options | {"do_sample": True, "num_beams": 5, "temperature": 1.0}
    return options | {"do_sample": False, "num_beams": 1}


def run_mode(model: MGMForCausalLM, kind: str, samples: list, pixels: dict, share: bool, new_tokens: int) -> dict:
    """One pass over the workload: seconds, FLOPs, tokens, first-position scores."""
    tokens, first_scores = [], []
    cache = FeatureCache() if share else None
    if kind == "mmmu_prefill":  # visual tokens cached in both modes: only the prefill differs
        cache = FeatureCache()
        with torch.no_grad():
            for image in range(pixels["images"].shape[0]):
                cache.put(f"image{image}", model.encode_images(pixels["images"][image:image + 1],
                                                               pixels["images_aux"][image:image + 1])[0])
    counter = FlopCounterMode(display=False)
    start = time.perf_counter()
    with torch.no_grad(), counter:
        for index, batch in enumerate(batches_of(kind, samples)):
            inputs = collate(batch, pixels)
            keys = inputs.pop("keys")
            extra = {"image_keys": keys, "feature_cache": cache, "share_prefix": share} if cache is not None else {}
            torch.manual_seed(100 + index)
            out = model.generate(**inputs, **decoding(kind, new_tokens), **extra)
            tokens += out.sequences.tolist()
            first_scores.append(out.scores[0])
    return {"seconds": time.perf_counter() - start, "flop": counter.get_total_flops(), "tokens": tokens,
            "first": torch.cat(first_scores)}


def measure(model: MGMForCausalLM, kind: str, images: int, new_tokens: int) -> dict:
    """Sharing off and on for one workload; the comparison row."""
    VOCAB[0] = min(30000, model.config.llm_config().vocab_size)
    samples = workload(kind, images)
    generator = torch.Generator().manual_seed(7)
    lr_side = model.model.vision_tower.vision_tower.vision_model.config.image_size
    hr_side = int(model.config.image_size_aux)
    pixels = {"images": torch.randn(images, 3, lr_side, lr_side, generator=generator),
              "images_aux": torch.randn(images, 3, hr_side, hr_side, generator=generator)}
    off = run_mode(model, kind, samples, pixels, share=False, new_tokens=new_tokens)
    on = run_mode(model, kind, samples, pixels, share=True, new_tokens=new_tokens)
    finite = torch.isfinite(off["first"]) & torch.isfinite(on["first"])
    diff = float((off["first"][finite] - on["first"][finite]).abs().max()) if not kind.startswith("mmmu") else None
    return {"kind": kind, "n": len(samples), "off": off, "on": on, "same_tokens": off["tokens"] == on["tokens"],
            "logit_diff": diff}


def format_rows(rows: list[dict]) -> list[str]:
    """The side-by-side table."""
    names = {"mme": "MME-like (2 q/image)", "mmbench": "MMBench-like (4 rot.)", "mmmu": "MMMU-like (beam 5)",
             "mmmu_prefill": "MMMU-like prefill"}
    lines = [f"{'workload':<24}{'n':>3}{'off s/s':>10}{'on s/s':>10}{'speed-up':>10}{'off TFLOP':>11}"
             f"{'on TFLOP':>10}{'FLOP ratio':>12}{'same tokens':>13}{'max |dlogit|':>14}"]
    for row in rows:
        off, on = row["off"], row["on"]
        diff = f"{row['logit_diff']:.2e}" if row["logit_diff"] is not None else "(sampled)"
        lines.append(f"{names[row['kind']]:<24}{row['n']:>3}{row['n'] / off['seconds']:10.4f}"
                     f"{row['n'] / on['seconds']:10.4f}{off['seconds'] / on['seconds']:9.2f}x"
                     f"{off['flop'] / 1e12:11.2f}{on['flop'] / 1e12:10.2f}{off['flop'] / on['flop']:11.2f}x"
                     f"{str(row['same_tokens']):>13}{diff:>14}")
    return lines


# ---------------------------------------------------------------------------------- suite FLOP model
# docs/roofline.md#benchmark-workload: (n samples, prompt T LR, vision TF LR) per benchmark; HD prompt = T + 2304
SUITE = {"TextVQA": (5000, 675, 3166), "MMBench": (4377, 706, 1164), "MME": (2374, 654, 1187),
         "MM-Vet": (218, 632, 218), "MMMU": (900, 731, 900), "MathVista": (1000, 681, 1000)}
VISION_TF = {"LR": 1.65, "HD": 7.443}  # per image (docs/roofline.md#vision-flops)
OWN_SUFFIX = {"MMBench": 40}  # MMBench circular copies share hint + question; options + instruction ≈ 40 tokens
DECODE_MIN = {"LR": 0.48, "HD": 1.98}  # batched decode (docs/roofline.md#suite-roofline), unchanged by sharing
SECTION_2_7 = {"LR": (3.59, 2.25), "HD": (16.16, 9.84)}


def prefill_tflop(tokens: float) -> float:
    """docs/roofline.md#llm-cost-model: 2·6.476e9·T + 2·T²·4096·32 + 2.6e8 (TFLOP) for a 7B prefill of T tokens."""
    return (2 * 6.476e9 * tokens + 2 * tokens * tokens * 4096 * 32 + 2.6e8) / 1e12


def suite_minutes(mode: str) -> tuple[float, float, float, float]:
    """(vision TF, prefill TF) without and with sharing, whole suite -> minutes at 790 TFLOP/s + decode."""
    visual = 576 if mode == "LR" else 2880
    vision_none = vision_shared = prefill_none = prefill_shared = 0.0
    for name, (n, prompt_lr, unique) in SUITE.items():
        prompt = prompt_lr + visual - 576
        prefix = PREFIX_TEXT + visual
        if name in OWN_SUFFIX:
            prefix = prompt - OWN_SUFFIX[name]
        vision_none += n * VISION_TF[mode]
        vision_shared += unique * VISION_TF[mode]
        prefill_none += n * prefill_tflop(prompt)
        prefill_shared += unique * prefill_tflop(prefix) + n * (prefill_tflop(prompt) - prefill_tflop(prefix))
    def minutes(tflop: float) -> float:
        return tflop / 790 / 60 + DECODE_MIN[mode]
    return vision_none, prefill_none, minutes(vision_none + prefill_none), vision_shared, prefill_shared, \
        minutes(vision_shared + prefill_shared)


def suite_lines() -> list[str]:
    """Whole-suite extrapolation next to the docs/roofline.md#savings-from-caching numbers."""
    lines = [f"{'suite (1 H100, roofline)':<26}{'vision TF':>11}{'prefill TF':>12}{'total min':>11}"
             f"{'anchor min':>10}"]
    for mode in ("LR", "HD"):
        v0, p0, m0, v1, p1, m1 = suite_minutes(mode)
        none_ref, shared_ref = SECTION_2_7[mode]
        lines.append(f"{'7B' + ('-HD' if mode == 'HD' else '') + ' none':<26}{v0:11,.0f}{p0:12,.0f}{m0:11.2f}"
                     f"{none_ref:10.2f}")
        lines.append(f"{'7B' + ('-HD' if mode == 'HD' else '') + ' cache + prefix':<26}{v1:11,.0f}{p1:12,.0f}"
                     f"{m1:11.2f}{shared_ref:10.2f}   (-{100 * (1 - v1 / v0):.0f}% vision, -{100 * (1 - p1 / p0):.0f}%"
                     f" prefill)")
        beam = 900 * 4 * prefill_tflop(731 + (0 if mode == "LR" else 2304)) / 790 / 60
        lines.append(f"{'  + MMMU beam-5 prefill once':<26}{'':>11}{'':>12}{-beam:11.2f}"
                     f"{-(0.7 if mode == 'LR' else 3.1):10.2f}   (4 of 5 beam prefills saved)")
    return lines


def main() -> None:
    """Parse options, run every workload off/on, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=2, help="images per workload")
    parser.add_argument("--new-tokens", type=int, default=2)
    parser.add_argument("--workloads", default="mme,mmbench,mmmu,mmmu_prefill")
    parser.add_argument("--suite-only", action="store_true", help="only the FLOP-model extrapolation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.suite_only:
        model = build_model()
        print(f"real-size CLIP-L/336 + ConvNeXt-L/768, 7B-shaped LLM slice (4096 x 32 heads x 2 layers), fp32, "
              f"{args.threads} threads, {args.new_tokens} new tokens", flush=True)
        rows = []
        for kind in args.workloads.split(","):
            rows.append(measure(model, kind, args.images, args.new_tokens))
            print("\n".join(format_rows(rows)[-1:] if len(rows) > 1 else format_rows(rows)), flush=True)
        print()
        print("\n".join(format_rows(rows)))
        print("targets: MME-like >= 1.7x, MMBench-like >= 2.5x, MMMU-like >= 1.5x; first-position logits <= 1e-4")
        print()
    print("\n".join(suite_lines()))


if __name__ == "__main__":
    main()
