"""Fixture results for the report tests: the demo's runs and a two-checkpoint demo with flipped samples.

* :func:`run_demo` runs ``mg-eval demo`` on a given tiny checkpoint (every bundled sample, real engine).
* :func:`evaluate_like_demo` evaluates another checkpoint the same way (the second seed).
* :func:`answer_some` writes a newer run of a model on a task where chosen samples answer their target,
  re-scored by the task's own ``process_result`` / ``aggregate`` (random tiny weights get everything wrong,
  so without this no sample would ever flip).
* :func:`independent_outcomes` reads per-sample outcomes straight from the files (not through mg_eval.report),
  so the tests can check the report against it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mg_eval.engine.results import find_runs, new_run_id, read_results, read_samples, run_dir, write_run

MAX_NEW_TOKENS_CAP = 8


def run_demo(checkpoint: Path, root: Path, cache: Path) -> Path:
    """``mg-eval demo --output root`` with ``checkpoint`` standing in for the demo's cached tiny model."""
    from mg_eval.cli.main import main

    (cache).mkdir(parents=True, exist_ok=True)
    link = cache / "tiny-mgm"
    if not link.exists():
        os.symlink(checkpoint, link)
    argv = ["demo", "--output", str(root), "--cache-dir", str(cache), "--batch-size", "8", "--num-workers", "0",
            "--max-new-tokens-cap", str(MAX_NEW_TOKENS_CAP)]
    assert main(argv) == 0
    return root


def evaluate_like_demo(checkpoint: Path, root: Path) -> None:
    """Evaluate ``checkpoint`` on every task's bundled sample data, as the demo does."""
    from mg_eval.cli.demo import DEMO_TASKS
    from mg_eval.engine import evaluate
    from mg_eval.engine.runner import resolve_task_objects

    tasks = [task for task in resolve_task_objects(list(DEMO_TASKS)) if getattr(task, "sample_path", None)]
    evaluate(checkpoint, tasks, protocol="mgm", batch_size=8, limit=None, output_dir=root, judge=None,
             num_workers=0, dtype="float32", device="cpu", data_paths={t.name: str(t.sample_path) for t in tasks},
             generation_overrides={"max_new_tokens_cap": MAX_NEW_TOKENS_CAP}, progress=False)


def newest_run(root: Path, model: str, task: str) -> Path:
    runs = [path for path in find_runs(root) if path.parent.name == task and path.parent.parent.name == model]
    return max(runs, key=lambda path: path.name)


def _target_answer(target: Any) -> str:
    return str(target[0]) if isinstance(target, list) else str(target)


def answer_some(root: Path, model: str, task_name: str, chosen: set[int]) -> Path:
    """A newer run of ``model`` on ``task_name``: samples at positions ``chosen`` answer their target."""
    from mg_eval.tasks import get_task

    source = newest_run(root, model, task_name)
    record, samples = read_results(source), read_samples(source)
    task = get_task(task_name)
    docs = {doc["doc_id"]: doc for doc in task.load(data_path=record["task"]["data_path"])}
    lines = []
    for index, sample in enumerate(samples):
        response = _target_answer(sample["target"]) if index in chosen else sample["response"]
        scored = task.process_result(docs[sample["doc_id"]], response, record["protocol"])
        lines.append({"doc_id": sample["doc_id"], "prompt": sample["prompt"], "response": response,
                      "fingerprint": sample["fingerprint"], **scored})
    record = dict(record, run_id=new_run_id(record["protocol"]), scores=task.aggregate(lines, record["protocol"]))
    return write_run(run_dir(root, model, task_name, record["run_id"]), record, lines)


def independent_outcomes(run: Path) -> dict[str, float | None]:
    """``{doc_id: outcome}`` from the aggregate's per-sample detail, else the sample's score / correct."""
    record, samples = read_results(run), read_samples(run)
    per_sample = record["scores"].get("per_sample") or {}
    out: dict[str, float | None] = {}
    for sample in samples:
        doc_id = sample["doc_id"]
        if doc_id in per_sample:
            detail = per_sample[doc_id]
            detail = detail.get("correct") if isinstance(detail, dict) else detail
        elif per_sample:
            detail = None
        else:
            detail = sample.get("score", sample.get("correct"))
        out[doc_id] = None if detail is None else float(detail)
    return out


def independent_flips(run_a: Path, run_b: Path) -> tuple[list[str], list[str]]:
    """(A right & B wrong, A wrong & B right): right = full credit, both graded."""
    a, b = independent_outcomes(run_a), independent_outcomes(run_b)
    a_only = [d for d in a if a[d] is not None and b.get(d) is not None and a[d] == 1.0 and b[d] < 1.0]
    b_only = [d for d in a if a[d] is not None and b.get(d) is not None and a[d] < 1.0 and b[d] == 1.0]
    return a_only, b_only
