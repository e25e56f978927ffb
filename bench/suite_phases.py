"""Phases of ``bench/gpu_suite.py`` besides the engine runs: the official batch-1 loop and the batch probe."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from suite_workload import BENCHMARKS, ForcedLengthProcessor, SyntheticTask
from transformers.generation.logits_process import LogitsProcessorList


def _stratified(values: list[int], k: int) -> list[int]:
    """Indices of ``k`` samples at evenly spaced quantiles 0..0.9 of ``values`` (the fit is linear in g)."""
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    top = len(order) - 1 if len(order) <= k else int(0.9 * (len(order) - 1))  # skip the extreme tail (time)
    picks = np.linspace(0, top, num=min(k, len(order))).round().astype(int)
    return sorted({order[i] for i in picks})


def official_loop(args: Any, generator: Any, rows: list[dict[str, Any]], report: Any, deadline: float) -> dict:
    """The official scripts' way: per sample decode + preprocess in the main loop, ``generate`` at batch 1.

    Fits t = a + b·(g - 1) over every timed sample (g generated tokens incl. EOS), extrapolates each full
    benchmark (its mean planned length) and compares with the engine's full-benchmark minutes.
    """
    timed: list[tuple[int, float]] = []
    for shape in BENCHMARKS:
        if time.monotonic() > deadline:
            break
        task = SyntheticTask(shape, max(2, round(shape.n_full * args.scale)), gen_cap=args.gen_cap,
                             image_size=(320, 240) if args.tiny else (1024, 768))
        docs = task.load()
        for index in _stratified(task.gen_lengths, args.official_k + (shape.gen_mean > shape.gen_median)):
            doc = docs[index]
            started = time.perf_counter()
            image = task.doc_to_visual(doc)[0].convert("RGB")
            batch = generator.prepare_sample(image, task.doc_to_text(doc, "mgm"))
            generator.generate(batch, task.generation_kwargs("mgm"))
            if generator.info["device"] == "cuda":
                torch.cuda.synchronize()
            timed.append((doc["g"], time.perf_counter() - started))
    if len(timed) < 2:
        return {}
    steps = np.array([g - 1 for g, _ in timed], dtype=float)
    seconds = np.array([s for _, s in timed])
    slope, intercept = np.polyfit(steps, seconds, 1) if np.ptp(steps) > 0 else (0.0, float(seconds.mean()))
    report.print(f"\nOfficial-style batch-1 loop: {len(timed)} samples, fit t = {intercept * 1e3:.1f} ms + "
                 f"{slope * 1e3:.2f} ms x (g - 1)\n")
    report.print("| benchmark | official full min (fit) | engine full min | engine speed-up |")
    report.print("|---|---|---|---|")
    total_official = total_engine = 0.0
    for row in rows:
        if row.get("full_min") is None:
            continue
        mean_steps = sum(g - 1 for g in row["gen"]) / len(row["gen"])
        official_min = row["n_full"] * (intercept + slope * mean_steps) / 60
        total_official, total_engine = total_official + official_min, total_engine + row["full_min"]
        report.print(f"| {row['name']} | {official_min:.2f} | {row['full_min']:.2f} | "
                     f"{official_min / row['full_min']:.1f}x |")
    if total_engine:
        report.print(f"| **suite** | **{total_official:.2f}** | **{total_engine:.2f}** | "
                     f"**{total_official / total_engine:.1f}x** |")
    return {"intercept_s": float(intercept), "slope_s": float(slope), "official_min": total_official}


def _probe_once(model: Any, batch: int, prompt_tokens: int, device: str) -> float | None:
    """Peak GiB of vision + prefill + 4 forced tokens at ``batch`` (None on CPU); raises on OOM."""
    config = model.config
    views = int(config.image_grid) ** 2 + int(bool(config.image_global))
    side, side_aux = int(config.clip_vision_config_dict()["image_size"]), int(config.image_size_aux)
    dtype = next(model.parameters()).dtype
    images = torch.randn((batch, views, 3, side, side) if views > 1 else (batch, 3, side, side), device=device,
                         dtype=dtype)
    images_aux = torch.randn(batch, 3, side_aux, side_aux, device=device, dtype=dtype)
    ids = torch.randint(3, 800, (batch, prompt_tokens), device=device)
    ids[:, 20] = -200
    lengths = torch.full((batch,), 4)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), images=images, images_aux=images_aux,
                   max_new_tokens=4, do_sample=False, eos_token_id=2, pad_token_id=0,
                   logits_processor=LogitsProcessorList([ForcedLengthProcessor(lengths, 2)]))
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def probe_batches(model: Any, mode: str, device: str, llm: Any, max_gen: int, prompt_tokens: int, report: Any,
                  deadline: float) -> dict[str, Any]:
    """Doubling batch sizes until out of memory (GPU) or the candidate list ends; prints a table.

    'fits longest answer' adds the KV cache of ``max_gen`` more tokens per row (computed) to the
    measured peak and compares with 92 % of the device memory.
    """
    candidates = [1, 2, 4] if device == "cpu" else ([8, 16, 32, 64, 128, 256] if mode == "LR" else [4, 8, 16, 32, 64])
    total = torch.cuda.get_device_properties(0).total_memory / 2**30 if device == "cuda" else None
    report.print(f"\nLargest batch ({mode}; prompt {prompt_tokens} text tokens; longest answer {max_gen} tokens)\n")
    report.print("| batch | peak GiB (vision + prefill + 4 tokens) | + KV of longest answer GiB | fits longest answer |")
    report.print("|---|---|---|---|")
    largest = {"prefill": None, "longest": None}
    for batch in candidates:
        if time.monotonic() > deadline:
            report.print(f"| {batch} | skipped (time budget) | | |")
            break
        try:
            peak = _probe_once(model, batch, prompt_tokens, device)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            report.print(f"| {batch} | out of memory | | no |")
            break
        largest["prefill"] = batch
        if peak is None:
            report.print(f"| {batch} | - (CPU) | - | - |")
            continue
        with_kv = peak + batch * max_gen * llm.kv_bytes_per_token / 2**30
        fits = with_kv <= 0.92 * total
        largest["longest"] = batch if fits else largest["longest"]
        report.print(f"| {batch} | {peak:.1f} | {with_kv:.1f} | {'yes' if fits else 'no'} |")
    if device == "cuda":
        report.print(f"\nLargest batch that fits ({mode}): {largest['prefill']} for short answers, "
                     f"{largest['longest']} with the longest answer's KV cache")
    return largest


def option_comparison(args: Any, generator: Any, batch: int, report: Any, deadline: float, tmp: Any) -> list[dict]:
    """MathVista (decode-heavy) under the decode options: speed-up vs the defaults and whether the tokens agree."""
    from mg_eval.engine import evaluate
    from mg_eval.results import read_samples
    from mg_model.generation.fast_decode import DecodeOptions

    shape = next(shape for shape in BENCHMARKS if shape.name == "mathvista")
    task = SyntheticTask(shape, 2 if args.tiny else args.options_n, gen_cap=args.gen_cap,
                         image_size=(320, 240) if args.tiny else (1024, 768))
    variants = [("defaults (eager, dynamic cache, static batches)", DecodeOptions(), False),
                ("--continuous", DecodeOptions(), True), ("--attn sdpa", DecodeOptions(attn="sdpa"), False),
                ("--attn sdpa --continuous", DecodeOptions(attn="sdpa"), True)]
    if args.compile_phase:
        variants.append(("--compile", DecodeOptions(compile=True), False))
    report.print(f"\nDecode options on MathVista ({len(task.docs)} samples, batch {batch})\n")
    report.print("| variant | tokens/s | speed-up | tokens equal to defaults |")
    report.print("|---|---|---|---|")
    rows, reference, base = [], None, None
    for name, options, continuous in variants:
        if time.monotonic() > deadline:
            report.print(f"| {name} | skipped (time budget) | | |")
            continue
        generator.set_decode(options)
        started = time.perf_counter()
        outcome = evaluate(generator, [task], batch_size=batch, output_dir=tmp / name.replace(" ", "_"), fresh=True,
                           progress=False, num_workers=args.num_workers, continuous=continuous)[0]
        tokens_s = sum(task.gen_lengths) / (time.perf_counter() - started)
        answers = sorted((line["doc_id"], line["response"]) for line in read_samples(outcome.run_dir))
        reference, base = reference or answers, base or tokens_s
        same = sum(a == b for a, b in zip(answers, reference))
        report.print(f"| {name} | {tokens_s:.1f} | {tokens_s / base:.2f}x | {same}/{len(answers)} |")
        rows.append({"name": name, "tokens_s": tokens_s, "same": same})
    generator.set_decode(DecodeOptions())
    return rows
