"""Continuous batching vs static batching through the engine, same model, same long-tailed workload, one run.

Workload: ``--samples`` synthetic MathVista-shaped samples (``bench/suite_workload.py``: real question
lengths, forced generated lengths drawn from MathVista's long-tailed distribution, capped at
``--gen-cap``), tiny random MGM (fp32, CPU) unless ``--variant`` names another. Both variants run
``mg_eval.engine.evaluate`` at the same ``--batch-size`` (static: fixed batches that decode until their
longest row ends; continuous: finished rows refilled at once), interleaved round by round, median of
the rounds. "answers" is a digest of every sample's generated token ids: equal digests = identical
greedy tokens. Target (issue 14): tokens/s >= 1.5x static at equal batch size, identical tokens.

    python bench/bench_continuous.py [--samples 48] [--batch-size 8] [--rounds 3] [--gen-cap 512]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite_workload import BENCHMARKS, SuiteGenerator, SyntheticTask  # noqa: E402

from mg_eval.engine import evaluate  # noqa: E402
from mg_eval.results import read_samples  # noqa: E402
from mg_model import build_tiny_model  # noqa: E402
from mg_model.processing_mgm import MGMImageProcessor  # noqa: E402


def run_variant(generator: SuiteGenerator, task: SyntheticTask, batch: int, continuous: bool, out: Path) -> dict:
    """One engine run; tokens/s over the wall time, digest of all answers."""
    started = time.perf_counter()
    outcome = evaluate(generator, [task], batch_size=batch, output_dir=out, fresh=True, progress=False,
                       num_workers=1, continuous=continuous)[0]
    wall = time.perf_counter() - started
    lines = sorted((line["doc_id"], line["response"]) for line in read_samples(outcome.run_dir))
    assert outcome.results["scores"]["length_ok"] == 1.0, "a row did not get its forced length"
    return {"wall": wall, "tokens_s": sum(task.gen_lengths) / wall, "samples_s": len(task.docs) / wall,
            "digest": hashlib.sha1(repr(lines).encode()).hexdigest()[:10],
            "generate_s": outcome.timing["generate_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gen-cap", type=int, default=512, help="cap on forced lengths (MathVista: 1024)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build_tiny_model(seed=0)
    config = model.config
    processor = MGMImageProcessor(image_size_aux=int(config.image_size_aux),
                                  image_size_raw=int(config.clip_vision_config_dict()["image_size"]))
    generator = SuiteGenerator(model, processor, "tiny-random", (1, 2, 0), "float32", "cpu")
    shape = next(shape for shape in BENCHMARKS if shape.name == "mathvista")
    task = SyntheticTask(shape, args.samples, gen_cap=args.gen_cap, image_size=(320, 240))
    lengths = sorted(task.gen_lengths)
    print(f"workload: {args.samples} MathVista-shaped samples, forced lengths mean {sum(lengths) / len(lengths):.1f}, "
          f"median {lengths[len(lengths) // 2]}, max {lengths[-1]}; batch {args.batch_size}; tiny MGM fp32 CPU, "
          f"{args.threads} thread(s); {args.rounds} rounds interleaved")
    results: dict[str, list[dict]] = {"static": [], "continuous": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for name in results:
                out = Path(tmp) / f"{name}{round_index}"
                results[name].append(run_variant(generator, task, args.batch_size, name == "continuous", out))
    base = statistics.median(r["tokens_s"] for r in results["static"])
    print("\n| variant | tokens/s | samples/s | wall s | in generate s | speed-up (tokens/s) | answers |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        tokens_s = statistics.median(r["tokens_s"] for r in runs)
        print(f"| {name} bs={args.batch_size} | {tokens_s:.1f} | {statistics.median(r['samples_s'] for r in runs):.2f} | "
              f"{statistics.median(r['wall'] for r in runs):.2f} | {statistics.median(r['generate_s'] for r in runs):.2f} "
              f"| {tokens_s / base:.2f}x | {','.join(sorted({r['digest'] for r in runs}))} |")
    per_round = [c["tokens_s"] / s["tokens_s"] for s, c in zip(results["static"], results["continuous"])]
    print("\nspeed-up per round: " + ", ".join(f"{x:.2f}x" for x in per_round))
    return 0


if __name__ == "__main__":
    sys.exit(main())
