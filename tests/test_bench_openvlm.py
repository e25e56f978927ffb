"""The openvlm group: its eight members, `mg-eval tasks` listing the new tasks, and its average (declared as data
in tasks/openvlm.yaml) in `mg-eval results`, the plot entries and the report leaderboard: present only when all
eight members have a full run, and equal to a hand computation from the declared sub-scores."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest
from conftest import conformance_path

from mg_eval.analysis import plots
from mg_eval.cli import tasks as tasks_cli
from mg_eval.cli.main import main
from mg_eval.engine.results import make_results, run_dir, write_run
from mg_eval.errors import DataError, UserInputError
from mg_eval.report import collect, leaderboard
from mg_eval.tasks import get_task, list_group_scores, list_groups
from mg_eval.tasks.config import parse_config

OPENVLM = ["mmbench_en_dev_v11", "mmstar", "mmmu_val", "mathvista_testmini", "ocrbench", "ai2d_test",
           "hallusionbench", "mmvet"]
#: One full run per member: the scores results.json would hold (only the keys the average reads, plus noise).
SCORES = {
    "mmbench_en_dev_v11": {"accuracy": 64.3, "n_questions": 1},
    "mmstar": {"accuracy": 35.13, "category": {"math": 30.0}},
    "mmmu_val": {"accuracy": 36.11, "overall_acc": 0.3611},
    "mathvista_testmini": {"accuracy": 27.4},
    "ocrbench": {"final_score": 543, "accuracy": 54.3},
    "ai2d_test": {"accuracy": 61.2},
    "hallusionbench": {"overall": 30.97, "aAcc": 50.0, "fAcc": 20.0, "qAcc": 22.91},
    "mmvet": {"total": 31.9},
}
#: By hand: the leaderboard's mean of the eight 0-100 numbers, OCRBench's Final Score / 10, one decimal.
EXPECTED = round((64.3 + 35.13 + 36.11 + 27.4 + 54.3 + 61.2 + 30.97 + 31.9) / 8, 1)


def _write(root: Path, model: str, task: str, run_id: str, limit: int | None = None) -> None:
    record = make_results(run_id=run_id, model={"name": model, "path": None, "weights_hash": None},
                          task={"name": task, "benchmark": get_task(task).benchmark, "version": "1", "fingerprint": "f"},
                          protocol="mgm", generation={}, scores=SCORES[task],
                          primary_metric=get_task(task).primary_metric, n_samples={"total": 2}, limit=limit)
    write_run(run_dir(root, model, task, run_id), record, [{"doc_id": "0", "target": "a", "response": "a"},
                                                            {"doc_id": "1", "target": "a", "response": "b"}])


def _results(capsys, root: Path, *extra: str) -> str:
    assert main(["results", "--root", str(root), *extra]) == 0
    return capsys.readouterr().out


def test_group_members_and_declared_average():
    assert list_groups()["openvlm"] == OPENVLM
    (score,) = list_group_scores()
    assert score.group == "openvlm" and score.tasks == tuple(OPENVLM) and score.decimals == 1
    assert dict((task, (key, scale)) for task, key, scale in score.members)["ocrbench"] == ("final_score", 0.1)
    assert score.compute(SCORES) == EXPECTED
    assert score.compute({k: v for k, v in SCORES.items() if k != "mmvet"}) is None


def test_tasks_lists_the_new_tasks_and_the_group(capsys):
    parser = argparse.ArgumentParser()
    tasks_cli.add_arguments(parser)
    assert tasks_cli.run(parser.parse_args([])) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["ocrbench"][4] == "1000" and rows["ai2d_test"][4] == "3088" and rows["hallusionbench"][4] == "951"
    measures = out.split("what each measures (metadata.description):")[1]
    for name in ("ocrbench", "ai2d_test", "hallusionbench"):
        assert f"\n  {name}: " in measures
    assert f"  openvlm: {', '.join(OPENVLM)}" in out


def test_results_show_the_average_only_when_all_eight_have_full_runs(tmp_path, capsys):
    for i, task in enumerate(OPENVLM[:-1]):
        _write(tmp_path, "MGM-7B", task, f"2026-01-01T00-00-0{i}")
    assert "openvlm_avg" not in _results(capsys, tmp_path)  # seven of eight
    _write(tmp_path, "MGM-7B", "mmvet", "2026-01-01T00-00-09", limit=1)
    assert "openvlm_avg" not in _results(capsys, tmp_path)  # the eighth is a --limit run: not for reporting
    _write(tmp_path, "MGM-7B", "mmvet", "2026-01-01T00-00-08")  # an older full run of it counts
    out = _results(capsys, tmp_path, "--task", "openvlm")
    (line,) = [line for line in out.splitlines() if "openvlm_avg" in line]
    assert line.split()[:6] == ["MGM-7B", "mgm", "openvlm", "mgm", "openvlm_avg", f"{EXPECTED:.2f}"]
    csv = tmp_path / "table.csv"
    _results(capsys, tmp_path, "--compare", "--csv", str(csv))
    assert f"openvlm,mgm,openvlm_avg,{EXPECTED}" in csv.read_text()


def test_plot_entries_and_report_leaderboard_carry_the_average(tmp_path):
    for i, task in enumerate(OPENVLM):
        _write(tmp_path, "MGM-7B", task, f"2026-01-01T00-00-0{i}")
        _write(tmp_path, "MGM-13B", task, f"2026-01-01T00-01-0{i}", limit=1 if task == "ocrbench" else None)
    entries = {entry.label: entry for entry in plots.collect_results([tmp_path], n_resamples=10)}
    assert entries["MGM-7B"].values["openvlm_avg"] == EXPECTED
    assert "openvlm_avg" not in entries["MGM-13B"].values
    assert "OpenVLM Avg" in [column.header for column in plots.leaderboard_columns()]
    rows = {row.label: row for row in leaderboard.our_rows(collect.load_run_views(tmp_path, 10, 0), 10, 0)}
    assert rows["MGM-7B"].cells["openvlm_avg"].value == EXPECTED
    assert "openvlm_avg" not in rows["MGM-13B"].cells


def test_an_average_must_name_exactly_the_group_tasks(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("group: g\ntask: [mme, pope]\naverage: {key: g_avg, scores: {mme: perception_total}}\n"
                   "metadata: {version: 1}\n")
    with pytest.raises(UserInputError, match=r"g.yaml: average.scores must name every task.*missing: \['pope'\]"):
        parse_config(bad)
    bad.write_text("group: g\ntask: [mme]\naverage: {key: g_avg, scores: {mme: {score: x, scale: big}}}\n")
    with pytest.raises(UserInputError, match="scale must be a number"):
        parse_config(bad)


@pytest.mark.parametrize(("folder", "file", "column", "value", "message"), [
    ("ocrbench", "generated_OCRBench.xlsx", "index", "x3", "row 5 (index x3): index 'x3' is not an integer"),
    ("ai2d", "generated_AI2D_TEST.xlsx", "answer", "E", "row 5 (index 3): AI2D question 3: answer 'E' is not one of the options"),
    ("hallusionbench", "generated_HallusionBench.xlsx", "answer", "Maybe", "row 5 (index VD_ocr_0_2_0_0): HallusionBench question"),
])
def test_a_bad_row_of_an_official_table_is_one_error_line(folder, file, column, value, message, tmp_path,
                                                          capsys):
    table = pd.read_excel(conformance_path(folder, file))
    table[column] = table[column].astype(object)
    table.loc[3, column] = value
    bad = tmp_path / file
    table.to_excel(bad, index=False)
    assert main(["score", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mg-eval score: error: {bad}: {message}") and "Traceback" not in err


def _hub_copy(folder: Path, split: str, rows: list[dict]) -> Path:
    """A local copy in the hub's parquet layout (``<split>-00000-of-00001.parquet``, embedded PNG images)."""
    import io

    import datasets
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(png, format="PNG")
    table = datasets.Dataset.from_list([{**row, "image": {"bytes": png.getvalue(), "path": None}} for row in rows])
    folder.mkdir(parents=True)
    table.cast_column("image", datasets.Image()).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


MATH = "Handwritten Mathematical Expression Recognition"


def test_hub_copies_are_read_into_the_official_schema(tmp_path):
    ocr = get_task("ocrbench").load(_hub_copy(tmp_path / "ocr", "test", [
        {"dataset": "IIIT5K", "question": "what is written in the image?", "question_type": "Regular Text Recognition",
         "answer": ["STOP"]},
        {"dataset": "HME100k", "question": "formula?", "question_type": MATH, "answer": ["x ^ 2"]}]))
    assert [(d["doc_id"], d["answers"], d["category"]) for d in ocr] == [
        ("0", ["STOP"], "Regular Text Recognition"), ("1", ["x ^ 2"], MATH)]
    ai2d = get_task("ai2d_test").load(_hub_copy(tmp_path / "ai2d", "test", [
        {"question": "Which is the producer?", "options": ["grass", "fox", "owl"], "answer": "0"}]))
    assert (ai2d[0]["A"], ai2d[0]["C"], ai2d[0]["D"], ai2d[0]["answer"]) == ("grass", "owl", None, "A")
    hb = get_task("hallusionbench").load(_hub_copy(tmp_path / "hb", "image", [
        {"category": "VD", "subcategory": "chart", "visual_input": "1", "set_id": "3", "figure_id": "1",
         "question_id": "0", "question": "Is it so?", "gt_answer": "0"}]))
    assert (hb[0]["doc_id"], hb[0]["answer"], hb[0]["l2_category"]) == ("VD_chart_1_3_1_0", "No", "chart")
    with pytest.raises(DataError, match="answer '7' is not the number of one of the 2 options"):
        get_task("ai2d_test").load(_hub_copy(tmp_path / "bad", "test", [
            {"question": "q", "options": ["a", "b"], "answer": "7"}]))
