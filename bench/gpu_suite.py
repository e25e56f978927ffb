"""One-command suite benchmark on one GPU: the real engine on random weights at real shapes, vs the roofline.

    python bench/gpu_suite.py --out docs/gpu_suite_h100.md          # MGM-7B LR + HD, <= ~7 min on one H100/H200
    python bench/gpu_suite.py --variant mgm-13b --modes LR           # other sizes (mgm-2b, mgm-13b)
    python bench/gpu_suite.py --tiny                                 # the same code path on CPU, tiny shapes, < 1 min
    python bench/gpu_suite.py --backend vllm --out docs/gpu_suite_vllm_h100.md   # the workloads through vLLM

What it does (phases in priority order; a time guard skips what does not fit into ``--budget-s`` and a
watchdog prints what it has and exits before ``--budget-s`` + 30 s):

1. builds the model with random weights directly on the device (``--variant``; Vicuna-7B + CLIP-L/336 +
   ConvNeXt-L, LR and HD), fp16;
2. per mode and benchmark, a synthetic workload with the benchmark's real shape (``bench/suite_workload.py``:
   sample count x ``--scale``, the real prompt lengths, forced generated lengths with each benchmark's
   typical distribution) evaluated by ``mg_eval.engine.evaluate`` (DataLoader workers with the real image
   preprocessing, store, scoring); prints samples/s, tokens/s, the extrapolated full-benchmark minutes,
   the roofline minutes (``bench/suite_roofline.py``) and the ratio, peak GPU memory, and the suite total;
3. the official scripts' way on a few samples per benchmark (batch 1, preprocessing in the main loop,
   ``model.generate`` per sample): a fit t = a + b·(g - 1) extrapolated to each full benchmark, and the
   engine's speed-up over it;
4. the largest batch that fits (LR and HD): peak memory of vision + prefill + 4 tokens per batch size,
   plus the KV cache of the workload's longest answer (computed);
5. on the last mode, MathVista (``--options-n`` samples) under the decode options (``--continuous``,
   ``--attn sdpa``, both, and ``--compile`` with ``--compile-phase``): tokens/s vs the defaults and how many
   answers (token digests) agree.

Per mode the order is 1-2-3-4 (then 5 on the last mode); ``--skip official,probe,options`` drops phases.
``--backend vllm`` runs phase 2's workloads through vLLM's engine instead (``bench/suite_vllm.py``: random
weights by vLLM's dummy loader, forced lengths); it first checks that this Python has vLLM and says so.

Targets (issue 14): the suite within 2x of the roofline (7B: <= 7 min LR, <= 20 min HD on one H100,
batched decode) and >= 10x faster than the official batch-1 loop.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite_vllm  # noqa: E402
from suite_phases import official_loop, option_comparison, probe_batches  # noqa: E402
from suite_roofline import LLMShape, benchmark_minutes, device_spec  # noqa: E402
from suite_workload import BENCHMARKS, SCAFFOLD_TOKENS, SuiteGenerator, SyntheticTask  # noqa: E402

from mg_eval.engine import evaluate  # noqa: E402
from mg_model.generation.fast_decode import DecodeOptions  # noqa: E402
from mg_model.processing_mgm import MGMImageProcessor  # noqa: E402


class Report:
    """Collects printed lines; ``flush`` writes them to ``--out`` (also from the watchdog)."""

    def __init__(self, out: str | None):
        self.out, self.lines, self.lock = out, [], threading.Lock()

    def print(self, line: str = "") -> None:
        with self.lock:
            print(line, flush=True)
            self.lines.append(line)

    def flush(self) -> None:
        if self.out:
            with self.lock:
                Path(self.out).parent.mkdir(parents=True, exist_ok=True)
                Path(self.out).write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CPU dry run: tiny model and workload (< 1 min)")
    parser.add_argument("--variant", default="mgm-7b", help="mgm-7b (default), mgm-13b, mgm-2b (LR only)")
    parser.add_argument("--modes", default="LR,HD", help="LR, HD or LR,HD")
    parser.add_argument("--scale", type=float, default=None, help="fraction of each benchmark (default 1/20)")
    parser.add_argument("--batch-lr", type=int, default=None, help="engine batch size, LR (default 64)")
    parser.add_argument("--batch-hd", type=int, default=None, help="engine batch size, HD (default 16)")
    parser.add_argument("--official-k", type=int, default=None, help="batch-1 loop samples per benchmark (4)")
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default engine's)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="time guard in seconds (default 430; the watchdog exits 30 s later)")
    parser.add_argument("--skip", default="", help="phases to skip, comma separated: official, options, probe")
    parser.add_argument("--options-n", type=int, default=32, help="MathVista samples of the decode-options phase")
    parser.add_argument("--attn", choices=("eager", "sdpa"), default="eager", help="LLM attention of the main runs")
    parser.add_argument("--continuous", action="store_true", help="main runs with continuous batching")
    parser.add_argument("--compile-phase", action="store_true",
                        help="also time --compile in the decode-options phase (compilation takes minutes)")
    parser.add_argument("--gen-cap", type=int, default=None, help="cap the forced answer lengths (default none)")
    parser.add_argument("--out", default=None, help="also write the report (markdown) here")
    parser.add_argument("--backend", choices=("mgm", "vllm"), default="mgm",
                        help="mgm (default: the engine over HF generate) or vllm (the workloads through vLLM)")
    args = parser.parse_args(argv)
    tiny = {"scale": 0.0001, "batch_lr": 4, "batch_hd": 2, "official_k": 1, "budget_s": 240.0, "gen_cap": 12,
            "num_workers": 0}
    full = {"scale": 0.05, "batch_lr": 64, "batch_hd": 16, "official_k": 4, "budget_s": 430.0}
    for key, value in (tiny if args.tiny else full).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.modes = [mode.strip().upper() for mode in args.modes.split(",") if mode.strip()]
    args.skip = {phase.strip() for phase in args.skip.split(",") if phase.strip()}
    if args.num_workers is None and _shm_gib() < 4:  # containers often have a 64 MB /dev/shm: workers would die
        print(f"note: /dev/shm has {_shm_gib():.2f} GiB; DataLoader workers off (--num-workers 0)", flush=True)
        args.num_workers = 0
    if args.tiny:
        args.variant = "tiny"
    if args.variant == "mgm-2b" and "HD" in args.modes:
        print("note: no MGM-2B-HD was released; running LR only", flush=True)
        args.modes = [mode for mode in args.modes if mode != "HD"]
    return args


def _shm_gib() -> float:
    """Size of /dev/shm (where DataLoader workers pass tensors), in GiB; large when it cannot be read."""
    try:
        return shutil.disk_usage("/dev/shm").total / 2**30
    except OSError:
        return float("inf")


def build_model(args: argparse.Namespace, mode: str) -> tuple[Any, str, str]:
    """(model in eval mode on its device, device name, dtype name): random weights, built on the device."""
    from mg_model import build_tiny_model
    from mg_model.modeling_mgm import model_class_for
    from mg_model.variants import variant_config

    if args.tiny:
        return build_tiny_model(hd=mode == "HD", seed=0), "cpu", "float32"
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device; run with --tiny for the CPU dry run")
    config = variant_config(args.variant + ("-hd" if mode == "HD" else ""))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)
    try:
        with torch.device("cuda"):
            model = model_class_for(type(config))(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval(), "cuda", "float16"


def image_processor_for(model: Any) -> MGMImageProcessor:
    """The official preprocessing at the model's sizes."""
    config = model.config
    return MGMImageProcessor(image_size_aux=int(config.image_size_aux),
                             image_size_raw=int(config.clip_vision_config_dict()["image_size"]),
                             image_grid=int(config.image_grid), image_global=bool(config.image_global))


def vision_cost(model: Any, processor: MGMImageProcessor, device: str) -> tuple[float, int]:
    """(vision FLOPs of one sample, counted by FlopCounterMode on the device; visual tokens per sample)."""
    from PIL import Image
    from torch.utils.flop_counter import FlopCounterMode

    batch = processor([Image.new("RGB", (640, 480), (90, 120, 200))])
    dtype = next(model.parameters()).dtype
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        tokens = model.encode_images(batch["images"].to(device, dtype), batch["images_aux"].to(device, dtype))
    return float(counter.get_total_flops()), int(tokens.shape[1])


def peak_gib(device: str) -> float | None:
    """Peak allocated GPU memory since the last reset (None on CPU)."""
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def fmt(value: float | None, digits: int = 2) -> str:
    """``-`` for None; small values with 3 significant digits (tiny dry runs)."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.3g}"


def run_mode(args: argparse.Namespace, mode: str, report: Report, deadline: float, tmp: Path) -> dict[str, Any]:
    """Build the model of ``mode``, run every benchmark through the engine, then the batch-1 loop and probe."""
    started = time.monotonic()
    model, device, dtype = build_model(args, mode)
    processor = image_processor_for(model)
    generator = SuiteGenerator(model, processor, f"{args.variant}-{mode}-random", (1, 2, 0), dtype, device)
    main_options = DecodeOptions(attn=args.attn)
    generator.set_decode(main_options)
    vision_flops, n_visual = vision_cost(model, processor, device)
    llm = LLMShape.from_llm_config(model.config.llm_config(), bytes_per_param=next(model.parameters()).element_size())
    spec = device_spec(torch.cuda.get_device_name() if device == "cuda" else "cpu")
    batch = args.batch_lr if mode == "LR" else args.batch_hd
    report.print(f"\n### {mode}: {args.variant}, {n_visual} visual tokens, vision {vision_flops / 1e9:.1f} GFLOP/sample, "
                 f"batch {batch}, attn {args.attn}, {'continuous' if args.continuous else 'static'} batches, built in {time.monotonic() - started:.1f} s, weights "
                 f"{fmt(peak_gib(device))} GiB\n")
    report.print("| benchmark | n run | n full | gen mean | samples/s | tokens/s | full min | roofline min "
                 "| ratio | peak GiB | lengths ok |")
    report.print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for shape in BENCHMARKS:
        if time.monotonic() > deadline:
            report.print(f"| {shape.name} | skipped (time budget) |||||||||")
            continue
        rows.append(run_benchmark(args, shape, generator, batch, llm, spec, vision_flops, n_visual, report, tmp / mode))
        report.flush()
    done = [row for row in rows if row.get("full_min") is not None]
    if done:
        full, roof = sum(row["full_min"] for row in done), sum(row["roof_min"] for row in done)
        report.print(f"| **suite ({len(done)}/{len(BENCHMARKS)})** | {sum(r['n'] for r in done)} | "
                     f"{sum(r['n_full'] for r in done)} | | | | **{full:.2f}** | **{fmt(roof)}** | "
                     f"**{full / roof:.3g}x** | | |")
    result = {"mode": mode, "rows": rows, "device": device}
    if "official" not in args.skip and time.monotonic() < deadline:
        result["official"] = official_loop(args, generator, rows, report, deadline)
        report.flush()
    if "probe" not in args.skip and time.monotonic() < deadline:
        max_gen = max((max(row["gen"]) for row in rows if row.get("gen")), default=1)
        result["probe"] = probe_batches(model, mode, device, llm, max_gen, SCAFFOLD_TOKENS + 70, report, deadline)
        report.flush()
    if "options" not in args.skip and mode == args.modes[-1] and time.monotonic() < deadline:
        result["options"] = option_comparison(args, generator, batch, report, deadline, tmp / f"{mode}-options")
        generator.set_decode(main_options)
        report.flush()
    del generator, model
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def run_benchmark(args: argparse.Namespace, shape: Any, generator: SuiteGenerator, batch: int, llm: LLMShape,
                  spec: Any, vision_flops: float, n_visual: int, report: Report, tmp: Path) -> dict[str, Any]:
    """One benchmark through ``evaluate``; prints its row."""
    n = max(2 if args.tiny else 8, round(shape.n_full * args.scale))
    task = SyntheticTask(shape, n, gen_cap=args.gen_cap, image_size=(320, 240) if args.tiny else (1024, 768))
    reset_peak(generator.info["device"])
    try:
        outcome = evaluate(generator, [task], batch_size=batch, output_dir=tmp, fresh=True, progress=False,
                           num_workers=args.num_workers, continuous=args.continuous)[0]
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        report.print(f"| {shape.name} | {n} | {shape.n_full} | out of memory at batch {batch} |||||||")
        return {"name": shape.name, "n": n, "n_full": shape.n_full}
    wall = outcome.timing["wall_s"]
    prompts = [SCAFFOLD_TOKENS + q + n_visual for q in task.question_tokens]
    roof_min, _ = benchmark_minutes(llm, spec, vision_flops, prompts, task.gen_lengths, batch, shape.n_full)
    full_min = shape.n_full * wall / n / 60
    row = {"name": shape.name, "n": n, "n_full": shape.n_full, "gen": task.gen_lengths, "prompts": prompts,
           "sps": n / wall, "full_min": full_min, "roof_min": roof_min, "peak": peak_gib(generator.info["device"]),
           "ok": outcome.results["scores"]["length_ok"]}
    report.print(f"| {shape.name} | {n} | {shape.n_full} | {sum(task.gen_lengths) / n:.1f} | {n / wall:.2f} | "
                 f"{sum(task.gen_lengths) / wall:.1f} | {full_min:.2f} | {fmt(roof_min)} | {full_min / roof_min:.3g}x | "
                 f"{fmt(row['peak'])} | {row['ok']:.2f} |")
    return row


def header(args: argparse.Namespace, report: Report) -> None:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and not args.tiny else platform.processor() or "cpu"
    spec = device_spec(device)
    import transformers

    report.print(f"# GPU suite benchmark ({'tiny CPU dry run' if args.tiny else args.variant})\n")
    report.print(f"* date {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}, device {device}, "
                 f"torch {torch.__version__}, transformers {transformers.__version__}, {os.cpu_count()} CPUs")
    report.print(f"* command: `python bench/gpu_suite.py {' '.join(sys.argv[1:])}`")
    report.print(f"* roofline constants: {spec.name} {spec.peak_flops / 1e12:.0f} TFLOP/s, "
                 f"{spec.hbm_bytes_per_s / 1e12:.1f} TB/s ({spec.source})")
    report.print(f"* scale {args.scale:g} of each benchmark; 'full min' = full benchmark at the measured samples/s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(args.out)
    start = time.monotonic()
    deadline = start + args.budget_s

    def watchdog() -> None:
        report.print(f"\nwatchdog: {args.budget_s + 30:.0f} s reached; stopping with the results above")
        report.flush()
        os._exit(3)

    timer = threading.Timer(args.budget_s + 30, watchdog)
    timer.daemon = True
    timer.start()
    torch.set_grad_enabled(False)
    if args.backend == "vllm" and (missing := suite_vllm.vllm_available()) is not None:
        print(f"error: {missing}", file=sys.stderr)
        timer.cancel()
        return 2
    header(args, report)
    with tempfile.TemporaryDirectory(prefix="gpu-suite-") as tmp:
        for mode in args.modes:
            if args.backend == "vllm":
                suite_vllm.run_benchmarks(args.variant, mode, args.scale, args.gen_cap, report.print, Path(tmp))
                continue
            if time.monotonic() > deadline:
                report.print(f"\n### {mode}: skipped (time budget)")
                continue
            run_mode(args, mode, report, deadline, Path(tmp))
    report.print(f"\ntotal wall {time.monotonic() - start:.1f} s")
    report.flush()
    timer.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
