"""The same workload on both backends, one run: ``mgm`` (HF generate, batched) vs ``vllm`` (vLLM's engine).

    .venv-vllm/bin/python bench/bench_vllm.py                  # tiny LR + HD checkpoints, CPU, fp32 (~2-4 min)
    .venv-vllm/bin/python bench/bench_vllm.py --modes LR --gen-cap 16

Workload: every bundled sample of ``mgm_paper`` + ``mgm_extended`` (real prompts, templates and images), each
with a forced answer length drawn as ``bench/gpu_suite.py`` draws them (``suite_workload.draw_lengths``: the
benchmark's typical length, capped by ``--gen-cap``), so both backends make exactly the same number of tokens.
Greedy; EOS banned before the forced length (HF: ``ForcedLengthProcessor``; vLLM: ``min_tokens`` +
``ignore_eos``). Prints per mode and backend: samples, generated tokens, wall seconds (engine start-up
excluded, printed apart), samples/s, tokens/s, and how many samples got identical tokens. Needs the vLLM
environment (``make install-vllm``); CPU numbers say nothing about GPU speed (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite_workload import BENCHMARKS, ForcedLengthProcessor, draw_lengths  # noqa: E402

#: task -> the workload shape whose answer lengths it gets (the paper's six; the extended tasks by kinship)
SHAPE_OF_TASK = {"textvqa_val": "textvqa", "mmbench_en_dev": "mmbench", "mme": "mme", "mmvet": "mmvet",
                 "mmmu_val": "mmmu", "mathvista_testmini": "mathvista", "pope": "mme", "mmbench_cn_dev": "mmbench",
                 "mmbench_en_dev_v11": "mmbench", "mmstar": "mmbench", "mmmu_pro_standard": "mmmu",
                 "mmmu_pro_vision": "mmmu"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="LR,HD", help="LR, HD or LR,HD (tiny LLaMA checkpoints, head_dim 32)")
    parser.add_argument("--gen-cap", type=int, default=32, help="cap of the forced answer lengths (default 32)")
    parser.add_argument("--batch-size", type=int, default=8, help="mgm backend batch size (default 8)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the mgm backend")
    return parser.parse_args(argv)


def workload(gen_cap: int) -> list[dict[str, Any]]:
    """Every bundled sample of mgm_paper + mgm_extended with its image, user text and forced length."""
    from mg_eval.tasks import get_task, list_groups

    shapes = {shape.name: shape for shape in BENCHMARKS}
    samples = []
    for task_name in list_groups()["mgm_paper"] + list_groups()["mgm_extended"]:
        task = get_task(task_name)
        docs = task.load_sample()
        lengths = draw_lengths(shapes[SHAPE_OF_TASK[task_name]], len(docs), gen_cap)
        for doc, length in zip(docs, lengths):
            visuals = task.doc_to_visual(doc)
            samples.append({"task": task_name, "image": visuals[0] if visuals else None,
                            "text": task.doc_to_text(doc, "mgm"), "length": max(2, int(length))})
    return samples


def run_mgm(checkpoint: Path, samples: list[dict[str, Any]], batch_size: int) -> tuple[list[list[int]], float]:
    """HF generate in batches (the mgm backend's path): answers (tokens before the forced EOS) and seconds."""
    from mg_model import MGMForCausalLM, MGMProcessor

    model, processor = MGMForCausalLM.from_pretrained(checkpoint), MGMProcessor.from_pretrained(checkpoint)
    eos = processor.tokenizer.eos_token_id
    answers: list[list[int]] = []
    started = time.perf_counter()
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        batch = processor(images=[s["image"] for s in chunk], texts=[s["text"] for s in chunk])
        lengths = torch.tensor([s["length"] for s in chunk])
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=int(lengths.max()), do_sample=False, num_beams=1,
                                 eos_token_id=eos, pad_token_id=processor.pad_token_id,
                                 logits_processor=[ForcedLengthProcessor(lengths, eos)])
        answers += [row[: s["length"] - 1] for row, s in zip(out.tolist(), chunk)]
    return answers, time.perf_counter() - started


def run_vllm(checkpoint: Path, samples: list[dict[str, Any]]) -> tuple[list[list[int]], float, float]:
    """All requests to vLLM's engine at once (its continuous batching): answers, seconds, start-up seconds."""
    from vllm import SamplingParams

    from mg_eval.models.vllm import VLLMGenerator

    started = time.perf_counter()
    generator = VLLMGenerator.from_pretrained(checkpoint, dtype="float32")
    startup = time.perf_counter() - started
    requests = generator.prepare([s["image"] for s in samples], [s["text"] for s in samples])["requests"]
    params = [SamplingParams(temperature=0.0, max_tokens=s["length"] - 1, min_tokens=s["length"] - 1,
                             ignore_eos=True) for s in samples]
    started = time.perf_counter()
    outputs = generator.llm.generate(requests, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    return [list(output.outputs[0].token_ids) for output in outputs], seconds, startup


def row(mode: str, backend: str, samples: list[dict[str, Any]], seconds: float, same: str) -> str:
    tokens = sum(s["length"] - 1 for s in samples)
    return (f"| {mode} | {backend} | {len(samples)} | {tokens} | {seconds:.2f} | {len(samples) / seconds:.2f} | "
            f"{tokens / seconds:.1f} | {same} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    from mg_model import build_tiny_checkpoint
    from mg_model.variants import TINY_HEAD_DIM_32

    samples = workload(args.gen_cap)
    lines = ["| mode | backend | samples | tokens | wall s | samples/s | tokens/s | identical tokens |",
             "|---|---|---|---|---|---|---|---|"]
    notes = []
    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            checkpoint = build_tiny_checkpoint(Path(tmp) / f"MGM-tiny-{mode}", hd=mode == "HD", seed=0,
                                               **TINY_HEAD_DIM_32)
            reference, mgm_s = run_mgm(checkpoint, samples, args.batch_size)
            served, vllm_s, startup = run_vllm(checkpoint, samples)
            same = sum(a == b for a, b in zip(reference, served))
            lines.append(row(mode, f"mgm (batch {args.batch_size})", samples, mgm_s, "reference"))
            lines.append(row(mode, "vllm", samples, vllm_s, f"{same}/{len(samples)}"))
            notes.append(f"{mode}: vLLM engine start-up {startup:.1f} s (not in the wall time)")
    print("\n".join(lines))
    print("\n".join(notes))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores; CPU numbers say nothing about GPU speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
