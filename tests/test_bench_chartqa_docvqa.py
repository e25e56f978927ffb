"""ChartQA and DocVQA (tasks/chartqa, tasks/docvqa): scorers vs lmms-eval's own functions, the readers, the
prompts, VLMEvalKit's prediction tables through `mg-eval score`, the DocVQA server file, and hub ids."""

from __future__ import annotations

import json

import datasets
import pytest
from conftest import conformance_path
from test_bench_exports import _write_run

from mg_eval.cli.export import export_run
from mg_eval.cli.main import main
from mg_eval.engine.results import read_results
from mg_eval.errors import DataError
from mg_eval.tasks import benchmark_module, get_task

chartqa = benchmark_module("chartqa", "scorer")
docvqa = benchmark_module("docvqa", "scorer")


def _json(benchmark: str) -> dict:
    return json.loads(conformance_path(benchmark, "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _json("chartqa")["chartqa_relaxed_correctness"],
                         ids=lambda c: f"{c['prediction']!r}~{c['target']!r}")
def test_relaxed_correctness_matches_lmms_eval(case):
    assert chartqa.relaxed_correctness(case["prediction"], case["target"]) is case["expected"]


def test_chartqa_per_sample_and_split_scores_match_lmms_eval():
    official = _json("chartqa")["chartqa_process_results"]
    records = [chartqa.process_result(str(i), s["doc"]["type"], s["prediction"], s["doc"]["answer"])
               for i, s in enumerate(official["samples"])]
    assert [r["hit"] for r in records] == [s["expected"]["relaxed_overall"] for s in official["samples"]]
    scores = chartqa.aggregate(records)
    for key, value in official["aggregate"].items():
        assert scores[key] == pytest.approx(100 * value, abs=1e-12), key
    assert scores["n_human"] + scores["n_augmented"] == scores["n_questions"] == 40


@pytest.mark.parametrize("case", _json("docvqa")["docvqa_anls"], ids=lambda c: f"{c['prediction']!r}")
def test_anls_matches_lmms_eval(case):
    assert docvqa.anls_score(case["prediction"], case["references"]) == pytest.approx(case["expected"], abs=1e-12)


def test_anls_mean_matches_lmms_eval():
    official = _json("docvqa")
    records = [docvqa.process_result(str(i), i, c["prediction"], c["references"])
               for i, c in enumerate(official["docvqa_anls"])]
    assert docvqa.aggregate(records)["anls"] == pytest.approx(100 * official["docvqa_mean_anls"], abs=1e-12)


def _score(capsys, *argv):
    code = main(["score", *map(str, argv)])
    out = capsys.readouterr()
    written = [line.split(" ", 1)[1] for line in out.out.splitlines() if line.startswith("wrote ")]
    return code, (read_results(written[0]) if written else None), out.out + out.err


def test_vlmevalkit_chartqa_table_scores_the_official_numbers(tmp_path, capsys):
    """The example table holds the conformance rows whose prediction is as a pipeline leaves it (stripped)."""
    import pandas as pd

    samples = _json("chartqa")["chartqa_process_results"]["samples"]
    table = pd.read_excel(conformance_path("chartqa", "example_ChartQA_TEST.xlsx"), dtype=str)
    kept = [samples[int(i)]["expected"] for i in table["index"]]
    code, record, _ = _score(capsys, conformance_path("chartqa", "example_ChartQA_TEST.xlsx"), "--output", tmp_path)
    assert code == 0 and record["task"]["name"] == "chartqa_test" and len(kept) == 36
    for key in ("relaxed_overall", "relaxed_human_split", "relaxed_augmented_split"):
        values = [official[key] for official in kept if key in official]
        assert record["scores"][key] == pytest.approx(100 * sum(values) / len(values), abs=1e-12), key


def test_table_predictions_are_scored_stripped(tmp_path):
    """lmms-eval strips a generated answer before scoring it; so does the table reader."""
    import pandas as pd

    from mg_eval.rescore import score_predictions

    file = tmp_path / "MGM-7B_ChartQA_TEST.tsv"
    pd.DataFrame([{"index": 0, "question": "q", "answer": "Brazil", "split": "human", "prediction": " Brazil "}]
                 ).to_csv(file, sep="\t", index=False)
    assert score_predictions(file).scores["relaxed_overall"] == 100.0
    assert chartqa.relaxed_correctness(" Brazil ", "Brazil") is False  # the official function itself strips nothing


def test_vlmevalkit_docvqa_table_scores_the_official_numbers(tmp_path, capsys):
    import pandas as pd

    file = conformance_path("docvqa", "example_DocVQA_VAL.xlsx")
    table = pd.read_excel(file)
    by_case = {(c["prediction"], str(c["references"])): c["expected"] for c in _json("docvqa")["docvqa_anls"]}
    expected = [by_case[(str(p), a)] for p, a in zip(table["prediction"], table["answer"])]
    code, record, _ = _score(capsys, file, "--output", tmp_path)
    assert code == 0 and record["task"]["name"] == "docvqa_val"
    assert record["scores"]["anls"] == pytest.approx(100 * sum(expected) / len(expected), abs=1e-12)


def test_chartqa_reader_gives_the_hub_order_and_row_place_ids():
    task = get_task("chartqa_test")
    docs = task.load_sample()
    assert [d["type"] for d in docs] == ["human_test"] * 4 + ["augmented_test"] * 4
    assert [d["doc_id"] for d in docs] == [str(i) for i in range(8)]
    assert [d["doc_id"] for d in task.load(task.sample_path, limit=3)] == ["0", "1", "2"]
    record = task.process_result(docs[6], "33%", "mgm")  # 33 % vs 33.3 %: within 5 %
    assert record["hit"] == 1


def test_chartqa_reader_errors_name_the_file(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test_human.json").write_text('[{"imgname": "a.png", "query": "q"}]')
    (tmp_path / "test" / "test_augmented.json").write_text("[]")
    with pytest.raises(DataError, match=r"test_human.json: \[0\]: needs 'imgname', 'query' and 'label'"):
        get_task("chartqa_test").load(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(DataError, match="no test_human.json found"):
        get_task("chartqa_test").load(tmp_path / "elsewhere")


def test_docvqa_reader_checks_the_split(tmp_path):
    task = get_task("docvqa_val")
    docs = task.load_sample()
    assert len(docs) == 6 and docs[1]["answers"] == ["$ 1,200", "1,200"]
    wrong = json.loads((task.sample_path / "val_v1.0.json").read_text())
    (tmp_path / "val_v1.0.json").write_text(json.dumps({**wrong, "dataset_split": "test"}))
    with pytest.raises(DataError, match="is the 'test' split but the task evaluates 'val'"):
        task.load(tmp_path)


@pytest.mark.parametrize("name, protocol, text", [
    ("chartqa_test", "mgm", "How many bars are there?\nAnswer the question using a single word or phrase."),
    ("chartqa_test", "lmms", "How many bars are there?\nAnswer the question with a single word."),
    ("docvqa_val", "mgm", "What is the document type?\nAnswer the question using a single word or phrase."),
    ("docvqa_val", "lmms", "What is the document type?\nAnswer the question using a single word or phrase."),
])
def test_prompts(name, protocol, text):
    task = get_task(name)
    assert task.doc_to_text(task.load_sample()[0], protocol) == text
    assert task.generation_kwargs(protocol)["max_new_tokens"] == {"mgm": 128, "lmms": 16 if "chart" in name
                                                                  else 32}[protocol]


def test_docvqa_test_run_scores_nothing_and_exports_the_server_file(tmp_path):
    run = _write_run(tmp_path, "docvqa_test", lambda docs: [f"answer {d['questionId']}" for d in docs])
    record = read_results(run)
    assert record["scores"]["anls"] is None and "rrc.cvc.uab.es" in record["scores"]["submit_to"]
    path, _ = export_run(run, "docvqa_test", tmp_path / "upload.json")
    assert json.loads(path.read_text()) == [{"questionId": 2000 + i, "answer": f"answer {2000 + i}"} for i in range(3)]


def test_hub_loads_the_current_id_and_accepts_the_former_one(monkeypatch):
    """lmms-eval PR #1416 moved lmms-lab/X to lmms-lab-encoder/X: the new id first, the old one if it fails."""
    task = get_task("docvqa_val")
    page = (task.sample_path / "documents" / "page_a.png").read_bytes()
    content = json.loads((task.sample_path / "val_v1.0.json").read_text())["data"]
    hub = datasets.Dataset.from_list([{**{k: v for k, v in row.items() if k != "image"},
                                       "image": {"bytes": page, "path": None}} for row in content])
    hub = hub.cast_column("image", datasets.Image())
    calls = []

    def moved(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        if path == "lmms-lab-encoder/DocVQA":
            raise FileNotFoundError("not in the cache")
        return hub

    monkeypatch.setattr(datasets, "load_dataset", moved)
    docs = task.load()
    assert calls == [("lmms-lab-encoder/DocVQA", "DocVQA", "validation"), ("lmms-lab/DocVQA", "DocVQA", "validation")]
    assert [d["doc_id"] for d in docs] == [str(1000 + i) for i in range(6)]


def test_every_lmms_lab_hub_id_is_the_moved_one_with_the_old_accepted():
    """No shipped task names an lmms-lab/ id (moved by lmms-eval PR #1416); each moved one keeps the old id."""
    from mg_eval.tasks import list_tasks

    for name in list_tasks():
        config = get_task(name).config
        assert not config.dataset_path.startswith("lmms-lab/"), name
        if config.dataset_path.startswith("lmms-lab-encoder/"):
            assert config.dataset_path_former == ("lmms-lab/" + config.dataset_path.split("/", 1)[1],), name


def test_hd_reading_group_and_the_demo_runs_it():
    from mg_eval.cli.demo import DEMO_TASKS
    from mg_eval.tasks import list_groups

    assert list_groups()["hd_reading"] == ["textvqa_val", "chartqa_test", "docvqa_val", "ocrbench"]
    assert "hd_reading" in DEMO_TASKS


def test_chartqa_table_without_the_subset_column_scores_overall_only(tmp_path):
    import pandas as pd

    from mg_eval.rescore import score_predictions

    file = tmp_path / "MGM-7B_ChartQA_TEST.tsv"
    rows = [{"index": 0, "question": "q", "answer": "42", "prediction": "41"},
            {"index": 1, "question": "q", "answer": "Brazil", "prediction": "brazil."}]
    pd.DataFrame(rows).to_csv(file, sep="\t", index=False)
    scores = score_predictions(file).scores
    assert scores["relaxed_overall"] == 50.0 and scores["relaxed_human_split"] is None
    pd.DataFrame([{**rows[0], "split": "synthetic"}]).to_csv(file, sep="\t", index=False)
    with pytest.raises(DataError, match=r"row 2 \(index 0\): split 'synthetic' is not human or augmented"):
        score_predictions(file)
