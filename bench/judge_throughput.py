"""Judge throughput: sequential official-style grading vs concurrent prefetch vs a warm cache.

Runs the MM-Vet grading loop (``tasks/mmvet/scorer.py: aggregate``) through the HTTP judge against the
scripted local server (``tests/fake_server.py``) that answers after a fixed latency, the way an
API does, and prints one table row per mode. Offline; nothing leaves 127.0.0.1.

    python3 bench/judge_throughput.py --samples 218 --latency 0.2 --concurrency 8
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

from mg_eval.judges import build_judge, score_with_judge
from mg_eval.tasks import benchmark_module


def _fake_server_class() -> type:
    """The test double ``tests/fake_server.py`` (loaded by path: it is not part of the package)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "fake_server.py"
    spec = importlib.util.spec_from_file_location("mg_eval_bench_fake_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.FakeChatServer


FakeChatServer = _fake_server_class()

mmvet = benchmark_module("mmvet", "scorer")


def _records(n: int) -> list[dict]:
    caps = [["rec"], ["ocr"], ["ocr", "math"], ["rec", "know", "gen"], ["spat", "rec"]]
    return [mmvet.process_result(f"v1_{i}", f"prediction {i}", f"question {i}?", f"answer {i}", caps[i % len(caps)])
            for i in range(n)]


def _run(mode: str, records: list[dict], latency: float, concurrency: int, cache_dir: str) -> tuple[float, int, dict]:
    grade = {"content": "0.5", "sleep": latency}
    with FakeChatServer(responder=lambda body: grade, max_requests=10 * len(records)) as server:
        judge = build_judge("openai:gpt-4-0613", base_url=server.base_url, api_key_env="MG_BENCH_NO_KEY",
                            cache_dir=cache_dir, max_concurrency=concurrency, timeout=30.0)
        started = time.perf_counter()
        if mode == "sequential":
            result = mmvet.aggregate(records, judge=judge)
        else:
            result = score_with_judge(lambda j: mmvet.aggregate(records, judge=j), judge, progress=False)
        wall = time.perf_counter() - started
        return wall, len(server.requests), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=218, help="MM-Vet samples to grade (default 218)")
    parser.add_argument("--latency", type=float, default=0.2, help="simulated seconds per judge call")
    parser.add_argument("--concurrency", type=int, default=8, help="judge max_concurrency for prefetch")
    args = parser.parse_args()
    os.environ.pop("MG_BENCH_NO_KEY", None)
    records = _records(args.samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        baseline = None
        for mode, cache in (("sequential", "seq"), ("prefetch", "par"), ("warm cache", "par")):
            wall, n_requests, result = _run(mode if mode != "warm cache" else "prefetch", records, args.latency,
                                            args.concurrency, os.path.join(tmp, cache))
            baseline = baseline or wall
            rows.append((mode, n_requests, wall, baseline / wall, result["total"]))
    print(f"MM-Vet grading, {args.samples} samples, {args.latency:g} s/call, concurrency {args.concurrency}")
    print(f"{'mode':<12} {'HTTP requests':>13} {'wall s':>8} {'speed-up':>9} {'total':>6}")
    for mode, n_requests, wall, speedup, total in rows:
        print(f"{mode:<12} {n_requests:>13} {wall:>8.2f} {speedup:>8.1f}x {total:>6}")


if __name__ == "__main__":
    main()
