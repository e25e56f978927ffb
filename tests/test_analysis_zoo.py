"""The LLaVA Model Zoo reference points: the mapping covers exactly the columns it claims, every drawn value is
the CSV cell as printed, unmapped columns are never drawn, and `mg-eval plot` renders them beside a run."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest

from mg_eval.analysis import plots, zoo
from mg_eval.api import PROTOCOLS
from mg_eval.cli.main import main as mg_eval_main
from mg_eval.errors import UserInputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_analysis_fixtures import write_fixture_run  # noqa: E402

REFERENCE = Path(__file__).resolve().parent.parent / "mg_eval" / "analysis" / "reference"
V15, V16 = "llava_model_zoo_v1_5.csv", "llava_model_zoo_v1_6.csv"
#: (file, zoo column, part) -> (task, score, leaderboard column): what the README says is mapped, nothing more
MAPPED = {
    (V15, "textvqa", None): ("textvqa_val", "accuracy", "textvqa"),
    (V15, "mme", None): ("mme", "perception_total", "mme_perception"),
    (V15, "mm_bench", None): ("mmbench_en_dev", "accuracy", "mmb"),
    (V15, "mm_bench_cn", None): ("mmbench_cn_dev", "accuracy", "mmb_cn"),
    (V15, "mm_vet", None): ("mmvet", "total", "mmvet"),
    (V16, "mmmu", None): ("mmmu_val", "accuracy", "mmmu_val"),
    (V16, "mathvista", None): ("mathvista_testmini", "accuracy", "mathvista"),
    (V16, "mme", 1): ("mme", "perception_total", "mme_perception"),
    (V16, "mme", 2): ("mme", "cognition_total", "mme_cognition"),
    (V16, "mm_vet", None): ("mmvet", "total", "mmvet"),
}
ID_COLUMNS = {"version", "size", "llm", "schedule", "checkpoint"}


def _table(name: str) -> tuple[list[str], list[dict[str, str]]]:
    """A zoo CSV read here with the csv module alone (independently of mg_eval.analysis.zoo)."""
    with open(REFERENCE / name, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


def test_the_mapping_covers_exactly_the_columns_it_claims() -> None:
    rows = zoo.load_mapping()
    mapped = {(r.file, r.zoo_column, r.part): (r.task, r.score, zoo.leaderboard_column(r)) for r in rows if r.mapped}
    assert mapped == MAPPED
    for name in (V15, V16):  # every number column of each table is listed (mapped or with its reason), once
        header, _ = _table(name)
        listed = [(r.zoo_column, r.part) for r in rows if r.file == name]
        assert len(listed) == len(set(listed))
        assert {column for column, _ in listed} == set(header) - ID_COLUMNS
    for row in rows:
        assert row.evidence
        if row.mapped:
            assert row.source and (row.protocol is None or row.protocol in PROTOCOLS)
        else:
            assert row.task is None and row.score is None


def test_each_drawn_value_is_the_csv_cell() -> None:
    entries = zoo.load_zoo()
    n_rows = 0
    for name in (V15, V16):
        _, records = _table(name)
        n_rows += len(records)
        for record in records:
            entry = next(e for e in entries if e.label == zoo.zoo_label(record))
            expected = {}
            for (file, column, part), (_, _, key) in MAPPED.items():
                if file == name:
                    cell = record[column]
                    expected[key] = float(cell.split("/")[part - 1] if part else cell)
            assert entry.source == "zoo" and entry.values == expected, entry.label
    assert len(entries) == n_rows == 8
    assert {e.label for e in entries} >= set(zoo.DEFAULT_ZOO_ROWS)
    by_label = {e.label: e for e in entries}
    assert by_label["LLaVA-1.5-7B-LoRA (LLaVA Model Zoo)"].values["mme_perception"] == 1476.9
    assert by_label["LLaVA-1.6-Hermes-Yi-34B (LLaVA Model Zoo)"].values["mme_cognition"] == 397.0


def test_unmapped_columns_are_not_drawn() -> None:
    by_label = {e.label: e for e in zoo.load_zoo()}
    v15, v16 = by_label["LLaVA-1.5-13B (LLaVA Model Zoo)"], by_label["LLaVA-1.6-Vicuna-7B (LLaVA Model Zoo)"]
    assert 85.9 not in v15.values.values()                      # POPE: aggregate not stated
    assert "textvqa" not in v16.values and "mmb" not in v16.values and "mmb_cn" not in v16.values
    columns = {c.key for c in plots.leaderboard_columns()}
    for entry in by_label.values():
        assert set(entry.values) <= columns


def test_paper_columns_take_only_their_tasks(tmp_path: Path) -> None:
    """An MMB-CN run fills MMB-CN, never the paper's (English dev) MMB column."""
    samples = [{"doc_id": str(i), "index": i, "score": 1.0} for i in range(4)]
    write_fixture_run(tmp_path, "MGM-7B", "mmbench_cn_dev", "mmbench", {"accuracy": 100.0}, samples)
    write_fixture_run(tmp_path, "MGM-7B", "mmbench_en_dev", "mmbench", {"accuracy": 75.0},
                      [{**s, "score": float(i != 0)} for i, s in enumerate(samples)])
    (entry,) = plots.collect_results([tmp_path], n_resamples=50)
    assert entry.values == {"mmb": 75.0, "mmb_cn": 100.0}


def test_plot_draws_a_run_beside_the_references(tmp_path: Path, capsys) -> None:
    samples = [{"doc_id": f"q{i}", "score": float(i % 3 != 0)} for i in range(30)]
    write_fixture_run(tmp_path / "runs", "MGM-7B", "textvqa_val", "textvqa", {"accuracy": 200 / 3}, samples)
    out = tmp_path / "figs"
    assert mg_eval_main(["plot", str(tmp_path / "runs"), "--output", str(out), "--dpi", "80",
                         "--resamples", "50"]) == 0
    bars = (out / "leaderboard_bars.svg").read_text(encoding="utf-8")
    assert (out / "leaderboard_bars.png").stat().st_size > 10_000
    assert "MGM-7B" in bars and "open markers: LLaVA Model Zoo" in bars
    assert all(label in bars for label in zoo.DEFAULT_ZOO_ROWS)
    assert "LLaVA-1.6-Hermes-Yi-34B (LLaVA Model Zoo)" not in bars          # not a default row
    heatmap = (out / "leaderboard_heatmap.svg").read_text(encoding="utf-8")
    assert "LLaVA-1.6-Hermes-Yi-34B (LLaVA Model Zoo)" in heatmap and "MMB-CN" in heatmap
    assert mg_eval_main(["plot", str(tmp_path / "runs"), "--output", str(tmp_path / "plain"), "--dpi", "80",
                         "--resamples", "50", "--no-zoo"]) == 0
    assert "LLaVA Model Zoo" not in (tmp_path / "plain" / "leaderboard_bars.svg").read_text(encoding="utf-8")
    capsys.readouterr()
    assert mg_eval_main(["plot", str(tmp_path / "runs"), "--output", str(out), "--zoo-rows", "LLaVA-2 (zoo)"]) == 2
    assert "not in the table" in capsys.readouterr().err


def _copy_reference(tmp_path: Path) -> Path:
    for name in (V15, V16, "llava_model_zoo_mapping.csv"):
        shutil.copy(REFERENCE / name, tmp_path / name)
    return tmp_path / "llava_model_zoo_mapping.csv"


@pytest.mark.parametrize(("old", "new", "message"), [
    (",mme,perception_total,mgm,", ",mme,,mgm,", "give both task and score"),
    (",textvqa_val,accuracy,", ",textvqa_val,f1,", "fills 0 leaderboard columns"),
    (",mmbench_cn_dev,accuracy,", ",no_such_task,accuracy,", "not a known task"),
])
def test_a_bad_mapping_row_is_a_clear_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    mapping = _copy_reference(tmp_path)
    text = mapping.read_text(encoding="utf-8")
    assert old in text
    mapping.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(UserInputError, match=message):
        zoo.load_zoo(mapping)


def test_a_table_column_missing_from_the_mapping_is_a_clear_error(tmp_path: Path) -> None:
    mapping = _copy_reference(tmp_path)
    lines = mapping.read_text(encoding="utf-8").splitlines(keepends=True)
    mapping.write_text("".join(line for line in lines if not line.startswith(f"{V15},seed,")), encoding="utf-8")
    with pytest.raises(UserInputError, match=r"\['seed'\]"):
        zoo.load_zoo(mapping)


@pytest.mark.parametrize(("column", "message"), [
    ("tasks: [demo_test]", r"\['demo_test'\] are not tasks of this folder"),
    ("in_paper: maybe", "in_paper must be true or false"),
])
def test_paper_column_tasks_and_in_paper_are_checked(tmp_path: Path, column: str, message: str) -> None:
    from mg_eval.tasks.benchmark import parse_benchmark

    path = tmp_path / "demo" / "benchmark.yaml"
    path.parent.mkdir()
    text = "benchmark: demo\npaper_columns:\n  - {key: demo_a, header: A, position: 0, score: accuracy, %s}\n"
    path.write_text(text % "tasks: [demo_dev], in_paper: false", encoding="utf-8")
    (parsed,) = parse_benchmark(path, {"demo_dev": "accuracy"}).paper_columns
    assert parsed.tasks == ("demo_dev",) and parsed.in_paper is False
    path.write_text(text % column, encoding="utf-8")
    with pytest.raises(UserInputError, match=message):
        parse_benchmark(path, {"demo_dev": "accuracy"})
