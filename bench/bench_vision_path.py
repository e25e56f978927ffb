"""Batched vision path vs the batch-1 loop at real encoder sizes: samples/s and peak memory per batch size.

Model: real-size random CLIP-L/336 + ConvNeXt-L (768, or 1536 with ``--hd``) and a small LLaMA
(hidden 256, 2 layers), float32, eval mode. Workload: ``--prompts`` prompts (one image each), greedy,
``--new-tokens`` new tokens. Variants, each in its own child process (so peak RSS is its own):

* ``loop b=1 unchunked``: ``generate`` one prompt at a time with the HR path in one chunk (the
  official batch-1 process: the whole fusion map and mining intermediates of one image at once);
* ``batch B unchunked`` (``--unchunked-batch B``): one ``generate`` over B prompts, HR path in one chunk
  (the old batched path; ~16 GiB at batch 8);
* ``batch B chunked``: the same with the default chunk budget of ``mg_model.generation.vision_chunks``.

Each child builds the model, warms up on one prompt and times one pass over the workload. Ratios are
against ``loop b=1 unchunked``; the token ids of every variant are compared with it.

    flock /work/heavy.lock python bench/bench_vision_path.py --threads 2 --prompts 8 --batch-sizes 1,4,8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mg_model.generation.vision_chunks import DEFAULT_CHUNK_BYTES  # noqa: E402
from mg_model.modeling_mgm import MGMForCausalLM  # noqa: E402
from mg_model.variants import variant_config  # noqa: E402

SMALL_LLM = {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 4, "vocab_size": 32000}
UNCHUNKED = 1 << 50  # a budget no batch reaches: one chunk, every token row at once


def build_model(hd: bool) -> MGMForCausalLM:
    """Real-size encoders, small LLaMA, random weights (seeded), eval mode."""
    torch.manual_seed(0)
    return MGMForCausalLM(variant_config("mgm-7b-hd" if hd else "mgm-7b", **SMALL_LLM)).eval()


def workload(model: MGMForCausalLM, prompts: int) -> list[dict[str, torch.Tensor]]:
    """One [1, L] prompt (BOS, text, -200, text) + its image per sample, seeded."""
    generator = torch.Generator().manual_seed(1)
    config = model.config
    side = int(config.image_size_aux)
    views = (5, 3, 336, 336) if int(config.image_grid) > 1 else (3, 336, 336)
    samples = []
    for index in range(prompts):
        text = torch.randint(100, 30000, (12 + index % 5,), generator=generator).tolist()
        ids = torch.tensor([[1, *text[:4], -200, *text[4:]]])
        samples.append({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                        "images": torch.randn(1, *views, generator=generator),
                        "images_aux": torch.randn(1, 3, side, side, generator=generator)})
    return samples


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Left-padded batch of ``samples``."""
    length = max(s["input_ids"].shape[1] for s in samples)
    ids = torch.zeros(len(samples), length, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sample in enumerate(samples):
        width = sample["input_ids"].shape[1]
        ids[row, length - width:] = sample["input_ids"][0]
        mask[row, length - width:] = 1
    return {"input_ids": ids, "attention_mask": mask, "images": torch.cat([s["images"] for s in samples]),
            "images_aux": torch.cat([s["images_aux"] for s in samples])}


def run_child(args: argparse.Namespace) -> None:
    """Build, warm up, time one pass over the workload; print one JSON line."""
    torch.set_num_threads(args.threads)
    model = build_model(args.hd)
    model.vision_chunk_bytes = args.chunk_bytes
    samples = workload(model, args.prompts)
    kwargs = {"max_new_tokens": args.new_tokens, "do_sample": False, "num_beams": 1, "pad_token_id": 0,
              "eos_token_id": 2}

    def one_pass() -> list[list[int]]:
        tokens = []
        for start in range(0, len(samples), args.batch):
            out = model.generate(**collate(samples[start:start + args.batch]), **kwargs)
            tokens += out.tolist()
        return tokens

    with torch.no_grad():
        model.generate(**collate(samples[:1]), **kwargs)  # warm-up (allocator, thread pools)
        start = time.perf_counter()
        tokens = one_pass()
        seconds = time.perf_counter() - start
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": seconds, "peak_gib": peak_gib, "tokens": tokens}))


def child(args: argparse.Namespace, batch: int, chunk_bytes: int) -> dict:
    """Run one variant in a fresh interpreter; its JSON result."""
    command = [sys.executable, __file__, "--child", "--batch", str(batch), "--chunk-bytes", str(chunk_bytes),
               "--threads", str(args.threads), "--prompts", str(args.prompts), "--new-tokens", str(args.new_tokens)]
    if args.hd:
        command.append("--hd")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Run every variant, print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=8)
    parser.add_argument("--batch-sizes", default="1,4,8", help="batch sizes of the chunked variant")
    parser.add_argument("--unchunked-batch", type=int, default=0,
                        help="also run the old one-chunk HR path at this batch size (batch 8: ~16 GiB)")
    parser.add_argument("--hd", action="store_true", help="HD model (ConvNeXt-L at 1536, 5 CLIP views)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-bytes", type=int, default=DEFAULT_CHUNK_BYTES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    variants = [("loop b=1 unchunked", 1, UNCHUNKED)]
    if args.unchunked_batch:
        variants.append((f"batch {args.unchunked_batch} unchunked", args.unchunked_batch, UNCHUNKED))
    variants += [(f"batch {b} chunked" if b > 1 else "loop b=1 chunked", b, DEFAULT_CHUNK_BYTES) for b in sizes]
    print(f"{'HD 1536' if args.hd else 'LR 768'}: {args.prompts} prompts x {args.new_tokens} new tokens, "
          f"fp32, {args.threads} threads, chunk budget {DEFAULT_CHUNK_BYTES / 2**30:.2f} GiB")
    print(f"{'variant':<24}{'seconds':>9}{'samples/s':>11}{'speed vs loop':>15}{'peak GiB':>10}"
          f"{'peak vs loop':>14}{'same tokens':>13}", flush=True)
    base = None
    for name, batch, chunk in variants:
        result = child(args, batch, chunk)
        base = base or result
        print(f"{name:<24}{result['seconds']:9.1f}{args.prompts / result['seconds']:11.3f}"
              f"{base['seconds'] / result['seconds']:14.2f}x{result['peak_gib']:10.2f}"
              f"{result['peak_gib'] / base['peak_gib']:13.2f}x{str(result['tokens'] == base['tokens']):>13}", flush=True)


if __name__ == "__main__":
    main()
