"""`mg-eval export`: the test-server files (MMMU test json, MMBench xlsx, MM-Vet json) from runs on the samples.

Runs are written with the results store from scripted responses (the engine's own samples.jsonl layout: the
record of `process_result` plus doc_id and response). Expected layouts are the official converters' (facts in
each benchmark's exports.py): MGM convert_to_test.py, LLaVA convert_mmbench_for_submission.py,
convert_mmvet_for_eval.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mg_eval.cli.export import export_formats, export_run
from mg_eval.cli.main import main as cli_main
from mg_eval.engine import results as store
from mg_eval.errors import UserInputError
from mg_eval.tasks import get_task

REPO = Path(__file__).resolve().parent.parent


def _write_run(root: Path, task_name: str, responses, limit: int | None = None) -> Path:
    task = get_task(task_name)
    docs = task.load_sample()
    samples = []
    for doc, response in zip(docs, responses(docs)):
        record = task.process_result(doc, response, "mgm")
        samples.append({**record, "doc_id": doc["doc_id"], "response": response})
    scores = task.aggregate([dict(s) for s in samples], "mgm")
    run_id = store.new_run_id("mgm", limit)
    record = store.make_results(run_id=run_id, model={"name": "fake", "weights_hash": "0" * 16}, task={"name": task.name, "benchmark":
                                task.benchmark, "version": task.version, "fingerprint": task.fingerprint("mgm")},
                                protocol="mgm", generation=task.generation_kwargs("mgm"), scores=scores,
                                primary_metric=task.primary_metric, n_samples={"total": len(samples)}, limit=limit)
    return store.write_run(store.run_dir(root, "fake", task.name, run_id), record, samples)


def test_every_declared_format_is_listed():
    assert set(export_formats()) == {"mmmu_test", "mmbench_en_test", "mmbench_cn_test", "mmvet_online", "docvqa_test"}


def test_mmmu_test_file_is_id_to_prediction(tmp_path):
    run = _write_run(tmp_path, "mmmu_test", lambda docs: ["(B)", "nothing to see", "4", "the ratio is 24/7"])
    results = store.read_results(run)
    assert results["scores"]["accuracy"] is None and "eval.ai" in results["scores"]["submit_to"]
    path, fmt = export_run(run, "mmmu_test")
    content = json.loads(path.read_text())
    assert list(content) == ["test_Art_1", "test_Art_2", "test_Math_1", "test_Math_15"]
    assert content["test_Art_1"] == "B" and content["test_Art_2"] in ("A", "B")  # a seeded random fallback
    assert all(isinstance(v, str) for v in content.values()) and content["test_Math_1"] == "4.0"  # normalize_str: 4 -> [4.0]
    assert path.read_text().startswith('{\n    "test_Art_1"')  # json.dump(indent=4)


def _official_columns(tsv: Path) -> list[str]:
    """The converter's columns on a tsv: drop the six, insert `prediction` at position 6."""
    columns = [c for c in pd.read_csv(tsv, sep="\t", nrows=1).columns
               if c not in ("hint", "category", "source", "image", "comment", "l2-category")]
    return columns[:6] + ["prediction"] + columns[6:]


@pytest.mark.parametrize("task_name,fmt,sample", [
    ("mmbench_en_test", "mmbench_en_test", "sample_test_en/mmbench_test_en_20231003.tsv"),
    ("mmbench_cn_test", "mmbench_cn_test", "sample_test_cn/mmbench_test_cn_20231003.tsv"),
    ("mmbench_en_dev", "mmbench_en_test", "sample/mmbench_dev_20230712.tsv"),
])
def test_mmbench_xlsx_has_the_converters_sheet_columns_and_rows(tmp_path, task_name, fmt, sample):
    run = _write_run(tmp_path, task_name, lambda docs: [f"{'ABCD'[i % 2]}" for i in range(len(docs))])
    path, _ = export_run(run, fmt, tmp_path / "upload.xlsx")
    sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
    assert list(sheets) == ["Sheet1"]
    frame = sheets["Sheet1"]
    tsv = REPO / "tasks" / "mmbench" / sample
    assert list(frame.columns) == _official_columns(tsv)
    source = pd.read_csv(tsv, sep="\t")
    assert frame["index"].tolist() == source["index"].tolist()
    assert frame["question"].tolist() == source["question"].tolist()
    assert frame["prediction"].tolist() == ["A" if i % 2 == 0 else "B" for i in range(len(frame))]
    assert frame["D"].isna().tolist() == source["D"].isna().tolist()


def test_mmvet_json_keys_are_the_official_ids(tmp_path):
    run = _write_run(tmp_path, "mmvet", lambda docs: [f"answer {i}" for i in range(len(docs))])
    path, _ = export_run(run, "mmvet_online")
    official_ids = json.loads((REPO / "tasks" / "mmvet" / "sample" / "mm-vet.json").read_text())
    content = json.loads(path.read_text())
    assert list(content) == list(official_ids) and content["v1_0"] == "answer 0"
    assert path.read_text().startswith('{\n  "v1_0"')  # json.dump(indent=2)


def test_wrong_task_limit_run_and_unknown_format_are_user_errors(tmp_path, capsys):
    run = _write_run(tmp_path, "mmvet", lambda docs: ["x"] * len(docs))
    with pytest.raises(UserInputError, match="takes runs of"):
        export_run(run, "mmmu_test")
    with pytest.raises(UserInputError, match="unknown export format"):
        export_run(run, "nope")
    limited = _write_run(tmp_path / "lim", "mmvet", lambda docs: ["x"] * len(docs), limit=2)
    assert cli_main(["export", str(limited), "--format", "mmvet_online"]) == 2
    assert "for_reporting false" in capsys.readouterr().err
    assert cli_main(["export", str(run), "--format", "mmvet_online"]) == 0
    assert "submit it to: https://huggingface.co/spaces/whyu/MM-Vet_Evaluator" in capsys.readouterr().out


def test_server_score_added_by_hand_is_listed_marked_and_plotted(tmp_path, capsys):
    from mg_eval.analysis import plots
    from mg_eval.cli.results import load_runs

    run = _write_run(tmp_path, "mmmu_test", lambda docs: ["(B)", "A", "4", "24/7"])
    assert plots.collect_results([tmp_path])[0].values.get("mmmu_test") is None  # nothing before the server
    assert cli_main(["results", "--add-server-score", str(run), "--value", "44.9"]) == 2  # --source required
    assert cli_main(["results", "--add-server-score", str(run), "--value", "44.9", "--source", "EvalAI, test"]) == 0
    record = store.read_results(run)
    assert record["scores"]["server_accuracy"] == 44.9
    assert record["scores"]["manual_scores"]["server_accuracy"]["source"] == "EvalAI, test"
    frame = load_runs(tmp_path)
    row = frame[frame["metric"] == "server_accuracy"].iloc[0]
    assert row["value"] == 44.9 and row["manual"] == "server score, added by hand: EvalAI, test"
    entry = plots.collect_results([tmp_path])[0]
    assert entry.values["mmmu_test"] == 44.9 and "mmmu_val" not in entry.values
    assert entry.manual == {"mmmu_test"} and "mmmu_test" not in entry.intervals
    paths = plots.plot_leaderboard_bars([entry], tmp_path / "board")
    assert all(path.is_file() for path in paths)
    assert len(store.read_samples(run)) == 4  # the run's samples are kept
