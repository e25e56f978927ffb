"""Engine throughput vs the official scripts' batch-1 sequential loop, on the same small model, in one run.

Variants (interleaved round by round, so a busy shared CPU hurts both alike):

* ``batch-1 loop``: what MGM's eval scripts do: for each sample, decode the image, preprocess,
  tokenise, ``generate``, decode, in the main process, one sample at a time.
* ``engine bs=N``: ``mg_eval.engine.evaluate`` (DataLoader workers decode + preprocess, fixed batches,
  fsync'd store, scoring, results files), fresh store every round.

Reported per variant (median over rounds): samples/s, wall time, time inside ``model.generate`` and the
share of wall time spent outside it (harness overhead: data, store, scoring, results). Targets on a
2-core CPU: engine at batch 16 >= 3x the batch-1 loop, harness overhead < 10 %.

    python bench/bench_engine.py [--samples 64] [--batch-size 16] [--rounds 2] [--max-new-tokens 16]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mg_eval.engine import evaluate  # noqa: E402
from mg_eval.models.mgm import MGMGenerator  # noqa: E402
from mg_eval.results.store import prediction_fingerprint  # noqa: E402

QUESTIONS = ["Is there a {c} shape in the image?", "What colour is the large {c} rectangle near the top left?",
             "Count the {c} objects; answer with a single number.", "Is the {c} circle to the left of the square?"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]


class BenchTask:
    """Yes/no questions on 640x480 JPEGs (decoding and preprocessing cost like real photos)."""

    name, benchmark, version, primary_metric = "bench_yesno", "bench", 1, "accuracy"

    def __init__(self, folder: Path, n: int, max_new_tokens: int):
        self.folder, self.n, self.max_new_tokens = folder, n, max_new_tokens
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = folder / f"{i:04d}.jpg"
            if not path.exists():
                image = Image.new("RGB", (640, 480), ((23 * i) % 256, (71 * i) % 256, (131 * i) % 256))
                draw = ImageDraw.Draw(image)
                for k in range(6):
                    draw.rectangle([40 + 90 * k, 30 + 60 * (k % 3), 120 + 90 * k, 200 + 30 * k],
                                   fill=((i * k * 37) % 256, 255 - 40 * k, (k * 50) % 256))
                image.save(path, quality=90)

    def load(self, data_path: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        docs = [{"doc_id": f"b{i:04d}", "image": str(self.folder / f"{i:04d}.jpg"),
                 "question": QUESTIONS[i % len(QUESTIONS)].format(c=COLOURS[i % len(COLOURS)]),
                 "answer": "yes" if i % 2 else "no"} for i in range(self.n)]
        return docs[:limit] if limit else docs

    def doc_to_visual(self, doc: dict[str, Any], protocol: str = "mgm") -> list[Image.Image]:
        with Image.open(doc["image"]) as image:
            return [image.convert("RGB")]

    def doc_to_text(self, doc: dict[str, Any], protocol: str) -> str:
        return doc["question"] + "\nAnswer the question using a single word or phrase."

    def prompt_config(self, protocol: str) -> dict[str, Any]:
        return {"post_prompt": "\nAnswer the question using a single word or phrase."}

    def data_fingerprint(self, data_path: str | None = None) -> dict[str, Any]:
        return {"source": "local", "path": str(self.folder)}

    def generation_kwargs(self, protocol: str) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "do_sample": False, "temperature": 0.0, "top_p": None,
                "num_beams": 1, "seed": None}

    def process_result(self, doc: dict[str, Any], response: str, protocol: str) -> dict[str, Any]:
        extracted = response.strip().lower()
        return {"doc_id": doc["doc_id"], "target": doc["answer"], "extracted": extracted,
                "score": float(extracted == doc["answer"])}

    def aggregate(self, records: list[dict[str, Any]], protocol: str, judge: Any = None) -> dict[str, Any]:
        return {"accuracy": 100.0 * sum(r["score"] for r in records) / max(1, len(records))}

    def fingerprint(self, protocol: str) -> str:
        return prediction_fingerprint(task=self.name, generation=self.generation_kwargs(protocol))


class TimedGenerator:
    """Wraps a generator and counts the seconds spent inside ``generate`` (the model's forward passes)."""

    def __init__(self, inner: MGMGenerator):
        self.inner, self.info, self.template_id = inner, inner.info, inner.template_id
        self.generate_s = 0.0

    def render_prompt(self, text: str, has_image: bool) -> str:
        return self.inner.render_prompt(text, has_image)

    def prepare(self, images: list, texts: list[str]) -> dict[str, Any]:
        return self.inner.prepare(images, texts)

    def generate(self, batch: dict[str, Any], generation: dict[str, Any]) -> list[str]:
        started = time.perf_counter()
        try:
            return self.inner.generate(batch, generation)
        finally:
            self.generate_s += time.perf_counter() - started


def batch1_loop(generator: TimedGenerator, task: BenchTask) -> tuple[float, list[str], dict[str, float]]:
    """The official scripts' loop: one sample at a time, everything in the main process."""
    started = time.perf_counter()
    answers = []
    generation = task.generation_kwargs("mgm")
    for doc in task.load():
        image = task.doc_to_visual(doc)[0]
        batch = generator.prepare([image], [task.doc_to_text(doc, "mgm")])
        answers.append(generator.generate(batch, generation)[0])
    return time.perf_counter() - started, answers, {}


def engine_run(generator: TimedGenerator, task: BenchTask, batch_size: int, num_workers: int,
               output: Path) -> tuple[float, list[str], dict[str, float]]:
    """One fresh ``evaluate`` call; returns wall seconds and the answers in document order."""
    started = time.perf_counter()
    run = evaluate(generator, [task], batch_size=batch_size, output_dir=output, num_workers=num_workers,
                   fresh=True, progress=False)[0]
    wall = time.perf_counter() - started
    from mg_eval.results import read_samples

    return wall, [line["response"] for line in read_samples(run.run_dir)], run.timing


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Interleaved rounds of every variant; one row per variant (medians)."""
    from mg_eval.cli.demo import tiny_checkpoint

    work = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    checkpoint = tiny_checkpoint(args.cache_dir)
    generator = TimedGenerator(MGMGenerator.from_pretrained(checkpoint, dtype="float32", device="cpu"))
    task = BenchTask(work / "images", args.samples, args.max_new_tokens)
    variants = {"batch-1 loop": lambda: batch1_loop(generator, task)}
    for size in args.batch_size:
        variants[f"engine bs={size}"] = (
            lambda size=size: engine_run(generator, task, size, args.num_workers, work / f"out{size}"))
    batch1_loop(generator, BenchTask(work / "images", 2, 2))  # warm-up (first-call allocations)
    timings: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in variants}
    answers: dict[str, list[str]] = {}
    for round_index in range(args.rounds):
        for name, fn in variants.items():
            generator.generate_s = 0.0
            wall, outputs, timing = fn()
            timings[name].append((wall, generator.generate_s, timing.get("data_wait_s", float("nan")),
                                  timing.get("store_s", float("nan"))))
            answers[name] = outputs
            print(f"round {round_index + 1}: {name:>14}: {wall:6.2f} s", file=sys.stderr)
    rows = []
    for name, values in timings.items():
        wall = statistics.median(value[0] for value in values)
        inside = statistics.median(value[1] for value in values)
        ratios = [loop[0] / value[0] for loop, value in zip(timings["batch-1 loop"], values)]
        rows.append({"per_round_speedup": ratios, "variant": name, "samples_per_s": args.samples / wall, "wall_s": wall, "generate_s": inside,
                     "outside_forward_pct": 100.0 * max(0.0, wall - inside) / wall,
                     "data_wait_s": statistics.median(value[2] for value in values),
                     "store_s": statistics.median(value[3] for value in values),
                     "answers_digest": hashlib.sha256("\x00".join(answers[name]).encode()).hexdigest()[:8]})
    return rows


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Markdown table plus the speed-up of each engine row over the batch-1 loop."""
    base = rows[0]["samples_per_s"]
    print(f"\nmodel: tiny random MGM (fp32, CPU, {torch.get_num_threads()} threads); {args.samples} samples, "
          f"640x480 JPEGs, max_new_tokens {args.max_new_tokens}, {args.rounds} interleaved rounds (median)\n")
    print("| variant | samples/s | speed-up vs batch-1 loop | wall s | in generate s | outside forward "
          "| of which waiting for data s | store s | answers |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['variant']} | {row['samples_per_s']:.2f} | {row['samples_per_s'] / base:.2f}x | "
              f"{row['wall_s']:.2f} | {row['generate_s']:.2f} | {row['outside_forward_pct']:.1f} % | "
              f"{_cell(row['data_wait_s'])} | {_cell(row['store_s'])} | {row['answers_digest']} |")


    for row in rows[1:]:
        ratios = ", ".join(f"{ratio:.2f}x" for ratio in row["per_round_speedup"])
        print(f"\n{row['variant']}: speed-up per round (same-round batch-1 loop / engine): {ratios}; "
              f"median {statistics.median(row['per_round_speedup']):.2f}x")


def _cell(value: float) -> str:
    return "inline" if value != value else f"{value:.2f}"  # NaN: the loop preprocesses inline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[16])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--cache-dir", default=str(Path("~/.cache/mg_eval").expanduser()))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads of the main process (default 1: the tiny model gains "
                             "nothing from more, and on a shared 2-core box extra OpenMP threads stall)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print_table(measure(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
