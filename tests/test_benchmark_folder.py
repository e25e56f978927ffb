"""A benchmark is one folder: a copy of ``tasks/mme`` under a new name works everywhere with zero edits elsewhere.

The copy lives in a temporary tasks root; only its names change (YAML file name, ``task:``, ``benchmark:``,
the format and paper-column names). ``mg-eval validate``, ``run`` (tiny random model), ``score`` (the official
eval_tool format, with the official LaVIN numbers), ``ablate`` and ``plot`` then all work on it, and the
analysis reads the copy's declaration (its units, its points-scale paper columns) instead of a name.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import conformance_path

from mg_eval.analysis import plots
from mg_eval.cli.main import main as mg_eval_main
from mg_eval.tasks import TASKS_ROOT, get_benchmark, list_tasks, use_tasks_root

NEW = "yesno"


def _copy_benchmark(root: Path) -> Path:
    """``tasks/mme`` -> ``<root>/yesno`` with every name changed (Python modules untouched)."""
    folder = root / NEW
    shutil.copytree(TASKS_ROOT / "mme", folder, ignore=shutil.ignore_patterns("__pycache__", "conformance"))
    (folder / "mme.yaml").rename(folder / f"{NEW}.yaml")
    for yaml_file in folder.glob("*.yaml"):
        text = yaml_file.read_text(encoding="utf-8")
        yaml_file.write_text(text.replace("mme", NEW).replace("MME", NEW.upper()), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def copied_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tasks_root") / "tasks"
    _copy_benchmark(root)
    return root


def _main(capsys, root: Path, *argv: str) -> tuple[int, str]:
    code = mg_eval_main(["--tasks-root", str(root), *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_copy_is_a_new_benchmark_and_the_original_is_untouched(copied_root: Path) -> None:
    assert list_tasks(copied_root) == [NEW]
    declaration = get_benchmark(NEW, copied_root)
    assert declaration.title == "YESNO" and declaration.folder == (copied_root / NEW).resolve()
    assert [c.key for c in declaration.paper_columns] == [f"{NEW}_perception", f"{NEW}_cognition"]
    assert get_benchmark("mme").folder == (TASKS_ROOT / "mme").resolve()
    with use_tasks_root(copied_root):
        assert list_tasks() == [NEW]
    assert NEW not in list_tasks()  # the scope ended


def test_a_missing_tasks_root_is_one_clear_error(tmp_path: Path, capsys) -> None:
    code, out = _main(capsys, tmp_path / "nope", "tasks")
    assert code == 2 and "is not a folder" in out and "Traceback" not in out


def test_validate_run_score_ablate_plot_on_the_copy(copied_root: Path, tiny_checkpoint: Path, tmp_path: Path,
                                                      capsys) -> None:
    code, out = _main(capsys, copied_root, "validate")
    assert code == 0, out
    assert "1 task(s) checked, 0 failure(s)." in out

    runs = tmp_path / "runs"
    code, out = _main(capsys, copied_root, "run", "--model", str(tiny_checkpoint), "--tasks", NEW, "--sample-data",
                      "--limit", "4", "--num-workers", "0", "--max-new-tokens-cap", "4", "--no-progress",
                      "--output", str(runs), "--device", "cpu")
    assert code == 0, out
    (results_file,) = runs.rglob("results.json")
    record = json.loads(results_file.read_text())
    assert record["task"]["name"] == NEW and record["task"]["benchmark"] == NEW
    assert "perception_total" in record["scores"]

    expected = json.loads(conformance_path("mme", "expected.json").read_text())["mme_lavin"]
    code, out = _main(capsys, copied_root, "score", str(conformance_path("mme", "lavin_predictions")),
                      "--output", str(tmp_path / "scored"))
    assert code == 0, out
    assert f"{NEW} ({NEW}-eval-tool" in out
    (scored,) = (tmp_path / "scored").rglob("results.json")
    scores = json.loads(scored.read_text())["scores"]
    assert scores["perception_total"] == pytest.approx(expected["perception_total"], abs=1e-9)
    assert scores["cognition_total"] == pytest.approx(expected["cognition_total"], abs=1e-9)

    spec = tmp_path / "copy_ablation.yaml"
    spec.write_text(f"name: copy_ablation\nbase: tiny\nmetrics:\n"
                    f"  - {{key: {NEW}, header: YN, task: {NEW}, score: perception_total}}\n"
                    f"rows:\n  - {{id: a, label: tiny, checkpoint: {tiny_checkpoint}}}\n"
                    f"  - {{id: b, label: tiny again, checkpoint: {tiny_checkpoint}}}\n", encoding="utf-8")
    code, out = _main(capsys, copied_root, "ablate", str(spec), "--output", str(tmp_path / "ablation"),
                      "--sample-data", "--limit", "4", "--max-new-tokens-cap", "4", "--batch-size", "4",
                      "--device", "cpu", "--resamples", "50")
    assert code == 0, out
    first, second = csv.DictReader(open(tmp_path / "ablation" / "copy_ablation.csv", encoding="utf-8"))
    assert first["status"] == second["status"] == "done"
    assert first[f"{NEW}_ci_low"] != ""  # units from the copy's declaration (acc_plus over images)
    assert second[f"{NEW}_p_value"] != ""  # paired over the same images

    code, out = _main(capsys, copied_root, "plot", str(runs), "--no-reference", "--output", str(tmp_path / "fig"),
                      "--resamples", "50", "--ablation", str(tmp_path / "ablation" / "copy_ablation.csv"))
    assert code == 0, out
    assert (tmp_path / "fig" / "leaderboard_bars.png").is_file()
    assert (tmp_path / "fig" / "copy_ablation_deltas.png").is_file()
    svg = (tmp_path / "fig" / "leaderboard_bars.svg").read_text()
    assert "YESNO (P of 2000, C of 800)" in svg  # the copy's own points-scale axis
    with use_tasks_root(copied_root):
        (entry,) = plots.collect_results([runs], n_resamples=50)
    assert set(entry.values) == {f"{NEW}_perception"}  # the sample data has perception sub-tasks only
    assert f"{NEW}_perception" in entry.intervals

