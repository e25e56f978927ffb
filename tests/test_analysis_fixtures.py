"""Fixture runs for the analysis tests: results.json + samples.jsonl in the engine's schema.

Scores are produced by the real metric functions (``tasks/<benchmark>/scorer.py``) from per-sample records that a
seeded generator makes, so the table math is checked against what a real run would hold. Other analysis
test modules import the helpers below; the tests at the bottom check the fixtures themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mg_eval.engine.results import make_results, read_results, read_samples, write_run
from mg_eval.tasks import benchmark_module

mme = benchmark_module("mme", "scorer")
mmvet = benchmark_module("mmvet", "scorer")
textvqa = benchmark_module("textvqa", "scorer")
MME_PERCEPTION, MME_COGNITION = mme.PERCEPTION, mme.COGNITION

SPEC_YAML = """
name: fixture_ablation
title: Fixture ablation
source: synthetic fixture runs
base: mgm-7b
setting_columns:
  - {key: hr, header: HR}
metrics:
  - {key: textvqa, header: TextVQA, task: textvqa_val, score: accuracy}
  - {key: mme, header: MME, task: mme, score: perception_total}
  - {key: mmvet, header: MM-Vet, task: mmvet, score: total}
rows:
  - id: base
    label: Baseline
    section: LR 336
    setting: {hr: "-"}
    delta: {mining: false}
    checkpoint: ckpt/base
    paper: {textvqa: "58.2*", mme: 1510.7, mmvet: 31.1}
  - id: mining
    label: + Info mining
    section: LR 336
    setting: {hr: 768}
    delta: {image_size_aux: 768}
    checkpoint: ckpt/mining
    paper: {textvqa: "61.5*", mme: 1517.0, mmvet: 34.6}
  - id: same
    label: + Nothing new
    section: LR 336
    setting: {hr: 768}
    delta: {image_size_aux: 768}
    checkpoint: ckpt/same
    paper: {textvqa: null, mme: 1517.0, mmvet: null}
  - id: later
    label: + Not trained yet
    section: LR 672
    setting: {hr: 1536}
    delta: {image_size_aux: 1536, image_grid: 2, image_global: true}
    checkpoint: ckpt/later
    paper: {textvqa: 68.4, mme: 1546.2, mmvet: 41.3}
"""

# Probability that a fixture "model" answers right, per row (the 'later' row has no runs: pending).
ROW_SKILL = {"base": 0.45, "mining": 0.62, "same": 0.62}
N_TEXTVQA = 120
N_MME_IMAGES = 8     # per perception category (2 questions each)
N_MMVET = 40


def textvqa_records(skill: float, seed: int) -> list[dict]:
    """TextVQA per-sample records: 10 human answers each, the prediction right with probability ``skill``."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(N_TEXTVQA):
        n_agree = int(rng.integers(1, 11))
        answers = ["stop"] * n_agree + ["go"] * (10 - n_agree)
        prediction = "stop" if rng.random() < skill else "yield"
        records.append(textvqa.process_result(f"tv{i}", prediction, answers))
    return records


def mme_records(skill: float, seed: int) -> list[dict]:
    """MME records for the 10 perception categories, two questions (yes / no) per image."""
    rng = np.random.default_rng(seed)
    records = []
    for category in MME_PERCEPTION:
        for image in range(N_MME_IMAGES):
            for q, target in enumerate(("Yes", "No")):
                right = rng.random() < skill + 0.2
                response = target if right else ("No" if target == "Yes" else "Yes")
                records.append(mme.process_result(f"{category}/{image}/{q}", category, f"{category}/{image}.png",
                                                  target, response))
    return records


def mmvet_records(skill: float, seed: int) -> list[dict]:
    """MM-Vet records with one pre-filled grade in {0.0, 0.5, 1.0} (no judge needed)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(N_MMVET):
        grade = float(rng.choice([0.0, 0.5, 1.0], p=[1 - skill, skill / 2, skill / 2]))
        records.append(mmvet.process_result(f"v1_{i}", "pred", "q", "gt", ["rec", "ocr"][i % 2:], grades=[grade]))
    return records


def write_fixture_run(root: Path, model: str, task: str, benchmark: str, scores: dict, samples: list[dict],
                      protocol: str = "mgm", limit: int | None = None, run_id: str = "20260101T000000000000Z_mgm",
                      weights_hash: str = "sha256:fixture") -> Path:
    """Write one run in the schema (``<root>/<model>/<task>/<run_id>/``) and return its directory."""
    record = make_results(
        run_id=run_id, model={"name": model, "path": f"/ckpt/{model}", "weights_hash": weights_hash},
        task={"name": task, "benchmark": benchmark, "version": 1, "fingerprint": "fixture"},
        protocol=protocol, generation={}, scores=scores, primary_metric=next(iter(scores)),
        n_samples={"total": len(samples)}, limit=limit,
    )
    directory = root / model / task / run_id
    write_run(directory, record, samples)
    return directory


def write_row_runs(output_dir: Path, row_id: str, skill: float, seed: int) -> dict[str, Path]:
    """All three tasks of one fixture row under ``<output_dir>/runs/<row_id>/`` (the ablate layout)."""
    root = output_dir / "runs" / row_id
    tv, mm, vet = textvqa_records(skill, seed), mme_records(skill, seed + 1), mmvet_records(skill, seed + 2)
    vet_scores = mmvet.aggregate(vet)
    return {
        "textvqa_val": write_fixture_run(root, row_id, "textvqa_val", "textvqa", textvqa.aggregate(tv), tv),
        "mme": write_fixture_run(root, row_id, "mme", "mme", mme.aggregate(mm), mm),
        "mmvet": write_fixture_run(root, row_id, "mmvet", "mmvet", vet_scores, vet),
    }


def write_fixture_ablation(output_dir: Path) -> Path:
    """The fixture spec file plus runs for rows base / mining / same ('same' repeats 'mining' exactly)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    spec_path = output_dir / "fixture_ablation.yaml"
    spec_path.write_text(SPEC_YAML, encoding="utf-8")
    write_row_runs(output_dir, "base", ROW_SKILL["base"], seed=10)
    write_row_runs(output_dir, "mining", ROW_SKILL["mining"], seed=20)
    write_row_runs(output_dir, "same", ROW_SKILL["same"], seed=20)
    return spec_path


def test_fixture_runs_are_readable_in_the_schema(tmp_path: Path) -> None:
    runs = write_row_runs(tmp_path, "base", 0.5, seed=1)
    for task, directory in runs.items():
        record = read_results(directory)
        assert record["task"]["name"] == task
        assert len(read_samples(directory)) == record["n_samples"]["total"] > 0


def test_fixture_scores_come_from_the_metrics(tmp_path: Path) -> None:
    runs = write_row_runs(tmp_path, "base", 0.5, seed=1)
    samples = read_samples(runs["textvqa_val"])
    expected = 100 * sum(s["score"] for s in samples) / len(samples)
    assert abs(read_results(runs["textvqa_val"])["scores"]["accuracy"] - expected) < 1e-9
