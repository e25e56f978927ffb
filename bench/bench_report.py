"""Size and load time of the `mg-eval report` sample browser for ~14k samples, in headless Chromium.

Writes RUNS synthetic runs of N samples each (MMBench-sized by default: 3 x 4,700 = 14,100 samples, with
prompt / question / response / category fields of realistic length and a mix of right, wrong and ungraded
outcomes), builds the site with ``mg_eval.report.build_report`` (no images: the synthetic task has none),
then opens ``samples.html#run=*`` (every run at once) in headless Chromium and reads the page's own timers.

Reported (median over ROUNDS page loads): time to the first rendered page of rows, time until every chunk is
loaded, one filter change (outcome = incorrect) and one text search over all rows; plus the build time, the
bytes of sample data the page loads, and the size of a 160 px thumbnail measured on SAMPLE_THUMBS
synthetic 640x480 images (thumbnails load per visible page only, 50 at a time).

    python bench/bench_report.py [--runs 3] [--samples 4700] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mg_eval.report import ReportOptions, build_report  # noqa: E402
from mg_eval.report.browser import find_browser, headless_chrome  # noqa: E402
from mg_eval.results import make_results, new_run_id, run_dir, write_run  # noqa: E402

SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
          "detailed, and polite answers to the user's questions. USER: <image>\n")
CATEGORIES = [f"category_{k:02d}" for k in range(20)]
WORDS = "the a shape colour red blue left right image sign text number count larger smaller above below".split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_runs(root: Path, n_runs: int, n_samples: int, seed: int = 0) -> None:
    """``n_runs`` runs of a synthetic multiple-choice task (same doc ids, different outcomes)."""
    for r in range(n_runs):
        rng = random.Random(seed + r)
        samples, hits = [], {}
        for i in range(n_samples):
            question = _sentence(rng, 18) + "?"
            options = "\n".join(f"{letter}. {_sentence(rng, 4)}" for letter in "ABCD")
            outcome = None if rng.random() < 0.05 else float(rng.random() < 0.6 + 0.05 * r)
            doc_id = str(i)
            hits[doc_id] = outcome
            samples.append({"doc_id": doc_id, "prompt": SYSTEM + question + "\n" + options +
                            "\nAnswer with the option's letter from the given choices directly. ASSISTANT:",
                            "response": rng.choice("ABCD") + " " + _sentence(rng, 6), "fingerprint": f"{i:016x}",
                            "target": rng.choice("ABCD"), "question": question, "category": rng.choice(CATEGORIES),
                            "extracted": rng.choice("ABCD"), "score": outcome})
        graded = [v for v in hits.values() if v is not None]
        per_category = {c: 100.0 * rng.random() for c in CATEGORIES}
        record = make_results(
            run_id=new_run_id("mgm"), model={"name": f"model-{r}", "path": None, "weights_hash": f"sha256:{r}"},
            task={"name": "synthetic_mcq", "benchmark": "synthetic", "version": 1, "fingerprint": "bench"},
            protocol="mgm", generation={"max_new_tokens": 16}, primary_metric="accuracy",
            scores={"accuracy": 100.0 * sum(graded) / len(graded), "category": per_category,
                    "n_ungraded": n_samples - len(graded)},
            n_samples={"total": n_samples, "computed": n_samples, "resumed": 0}, limit=None)
        write_run(run_dir(root, record["model"]["name"], "synthetic_mcq", record["run_id"]), record, samples)


def thumbnail_bytes(out: Path, n: int, size: int = 160) -> float:
    """Mean bytes of a thumbnail written the report's way, over ``n`` synthetic 640x480 images."""
    from PIL import Image, ImageDraw

    from mg_eval.report.samples import _write_thumbs

    rng = random.Random(0)
    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    total = 0
    for k in range(n):
        image = Image.new("RGB", (640, 480), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(600), rng.randrange(440)
            draw.rectangle([x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 200)],
                           fill=tuple(rng.randrange(256) for _ in range(3)))
        draw.text((20, 20), _sentence(rng, 5), fill=(0, 0, 0))
        name = f"thumbs/{k}.jpg"
        _write_thumbs([image], [name], out, size)
        total += (out / name).stat().st_size
    return total / n


def page_timings(site: Path, driver) -> dict[str, float]:
    """One fresh load of samples.html#run=*: first render, all loaded, filter and search (ms)."""
    driver.get("about:blank")
    driver.get((site / "samples.html").as_uri() + "#run=*")
    end = time.monotonic() + 120
    while not driver.execute_script("return document.body.getAttribute('data-loaded');"):
        if time.monotonic() > end:
            raise TimeoutError("the sample browser did not finish loading in 120 s")
        time.sleep(0.02)
    timing = driver.execute_script("return MGR.timing;")
    interact = driver.execute_script(
        "var b = MGR.browser, t0 = performance.now();"
        "var f = document.getElementById('outcome-filter'); f.value = 'wrong'; f.dispatchEvent(new Event('change'));"
        "var t1 = performance.now(); var n1 = b.filtered.length; f.value = 'all'; f.dispatchEvent(new Event('change'));"
        "var s = document.getElementById('search'); s.value = 'larger sign'; var t2 = performance.now(); b.refresh();"
        "var t3 = performance.now();"
        "return {filter: t1 - t0, search: t3 - t2, rows: b.rows.length, wrong: n1, hits: b.filtered.length};")
    return {"first_render_ms": timing["firstRender"], "all_loaded_ms": timing["allLoaded"],
            "filter_ms": interact["filter"], "search_ms": interact["search"], "rows": interact["rows"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4700)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample-thumbs", type=int, default=200)
    args = parser.parse_args()
    reason = find_browser()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root, site = Path(tmp) / "runs", Path(tmp) / "site"
        write_runs(root, args.runs, args.samples)
        started = time.perf_counter()
        build_report(root, site, ReportOptions(reference=None, images=False))
        build_s = time.perf_counter() - started
        chunks = list((site / "data").rglob("*.js"))
        data_bytes = sum(p.stat().st_size for p in chunks)
        page_bytes = (site / "samples.html").stat().st_size + sum(p.stat().st_size for p in (site / "static").iterdir())
        thumb = thumbnail_bytes(Path(tmp) / "thumbs", args.sample_thumbs)
        driver = headless_chrome(1300, 900)
        try:
            rounds = [page_timings(site, driver) for _ in range(args.rounds)]
        finally:
            driver.quit()
    n = args.runs * args.samples
    med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"sample browser, {n} samples ({args.runs} runs x {args.samples}), median of {args.rounds} loads\n")
    print("| measure | value |\n|---|---|")
    print(f"| build (python, no images) | {build_s:.1f} s |")
    print(f"| sample data loaded by the page ({len(chunks)} chunks of <= 500) | {data_bytes / 1e6:.1f} MB |")
    print(f"| page + static files | {page_bytes / 1e3:.0f} kB |")
    print(f"| thumbnail, 160 px JPEG (mean of {args.sample_thumbs}) | {thumb / 1e3:.1f} kB "
          f"(x {n} = {thumb * n / 1e6:.0f} MB on disk; 50 load per page) |")
    print(f"| first page of rows rendered (from navigation start) | {med['first_render_ms']:.0f} ms |")
    print(f"| all {int(med['rows'])} rows loaded | {med['all_loaded_ms']:.0f} ms |")
    print(f"| filter change (outcome = incorrect) | {med['filter_ms']:.0f} ms |")
    print(f"| text search over all rows | {med['search_ms']:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
