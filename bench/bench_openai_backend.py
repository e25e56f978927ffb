"""The ``openai`` backend through ``mg-eval run``: samples/s against a scripted endpoint with a fixed latency.

Runs the bundled samples of the chosen tasks against the local scripted server (``tests/fake_server.py``, via
``bench/judge_throughput.py``) answering after ``--latency`` seconds, at each ``--concurrency``, with the
response cache off (every sample is an HTTP request), then once more with the cache warm (a ``--fresh`` rerun:
no request). A first, unmeasured run pays the imports. What it measures is the harness's request pipeline
(batches, concurrency, store), not any model: a real endpoint's latency and batching decide real speed.

    python bench/bench_openai_backend.py --tasks mgm_paper --latency 0.2 --concurrency 1 8
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

from judge_throughput import FakeChatServer  # the scripted server, loaded by path there

from mg_eval.cli.main import main as mg_eval


def _run(server: FakeChatServer, output: Path, tasks: str, batch_size: int, concurrency: int,
         cache: Path | None) -> tuple[int, float]:
    """(HTTP requests for samples, wall seconds) of one ``mg-eval run --fresh``."""
    before = len(server.requests)
    argv = ["run", "--backend", "openai", "--model", "bench-vlm", "--base-url", server.base_url, "--tasks", tasks,
            "--sample-data", "--output", str(output), "--num-workers", "1", "--no-progress", "--fresh",
            "--batch-size", str(batch_size), "--backend-option", f"concurrency={concurrency}",
            "--backend-option", f"cache_dir={cache}" if cache else "no_cache=true"]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        if mg_eval(argv) != 0:
            sys.exit("mg-eval run failed")
    return len(server.requests) - before - 1, time.perf_counter() - started  # the probe is not a sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mgm_paper")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server takes per request")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, \
            FakeChatServer(responder=lambda body: {"content": "Yes", "sleep": args.latency}, max_requests=10**6,
                           lifetime_s=3600) as server:
        root = Path(scratch)
        _run(server, root / "warmup", args.tasks, args.batch_size, max(args.concurrency), None)
        print(f"openai backend, tasks {args.tasks} (bundled samples), {args.latency:g} s per request, "
              f"--batch-size {args.batch_size}")
        print(f"{'mode':<22} {'requests':>8} {'wall s':>7} {'samples/s':>9}")
        for concurrency in args.concurrency:
            requests, wall = _run(server, root / "out", args.tasks, args.batch_size, concurrency, None)
            print(f"{f'concurrency {concurrency}':<22} {requests:>8} {wall:>7.2f} {requests / wall:>9.2f}")
        _run(server, root / "out", args.tasks, args.batch_size, max(args.concurrency), root / "cache")
        requests, wall = _run(server, root / "out", args.tasks, args.batch_size, max(args.concurrency), root / "cache")
        print(f"{'warm response cache':<22} {requests:>8} {wall:>7.2f} {'–':>9}")


if __name__ == "__main__":
    main()
