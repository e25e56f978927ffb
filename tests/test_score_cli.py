"""`mg-eval score`: the official numbers through the command line, every format, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mg_eval.cli.main import main
from mg_eval.engine.results import make_results, read_results, read_samples, write_run
from mg_eval.rescore import detect_format, score_predictions
from mg_eval.tasks import benchmark_module


def _score(capsys, *argv) -> tuple[int, dict | None, str]:
    """Run `mg-eval score`; return (exit code, results.json of the written run or None, output)."""
    code = main(["score", *map(str, argv)])
    out = capsys.readouterr()
    text = out.out + out.err
    written = [line.split(" ", 1)[1] for line in out.out.splitlines() if line.startswith("wrote ")]
    return code, (read_results(written[0]) if written else None), text


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_mme_lavin_through_the_cli(conformance, tmp_path, capsys):
    expected = json.loads((conformance("mme") / "expected.json").read_text())["mme_lavin"]
    code, record, out = _score(capsys, conformance("mme") / "lavin_predictions", "--output", tmp_path)
    assert code == 0 and "perception_total = 963.6114" in out
    for key, value in expected.items():
        assert record["scores"][key] == value, key
    assert record["task"]["name"] == "mme" and record["extra"]["source_format"] == "mme-eval-tool"
    assert record["n_samples"]["total"] == 2374 and record["judge"] is None


def test_mmmu_llava_13b_through_the_cli_in_both_layouts(conformance, tmp_path, capsys):
    expected = json.loads((conformance("mmmu") / "expected.json").read_text())["mmmu_llava1.5_13b"]
    flat = conformance("mmmu") / "llava1.5_13b_outputs"
    code, record, _ = _score(capsys, flat, "--output", tmp_path / "a")
    assert code == 0
    assert record["scores"]["overall_acc"] == expected["overall_acc"]
    assert record["scores"]["per_subject_acc"] == expected["per_subject_acc"]
    assert record["scores"]["n_samples"] == 900 and record["scores"]["n_random_fallback"] == 2
    drawn = [doc_id for doc_id, detail in record["scores"]["per_sample"].items() if detail["random"]]
    assert len(drawn) == 2  # kept in results.json, as a run keeps it, for the analysis
    nested = tmp_path / "official_layout"
    for file in flat.glob("*.json"):
        (nested / file.stem).mkdir(parents=True)
        shutil.copy(file, nested / file.stem / "output.json")
    code, record2, _ = _score(capsys, nested, "--output", tmp_path / "b")
    assert record2["scores"]["overall_acc"] == expected["overall_acc"]
    # the official answer dictionary (real lists for the 3 list answers) can replace the files' answers
    code, record3, _ = _score(capsys, flat, "--annotation", conformance("mmmu") / "answer_dict_val.json",
                              "--output", tmp_path / "c")
    assert code == 0 and record3["scores"]["n_samples"] == 900


def test_mathvista_bard_through_the_cli_without_any_judge_key(conformance, tmp_path, capsys):
    code, record, out = _score(capsys, conformance("mathvista") / "output_bard.json", "--output", tmp_path,
                               "--annotation", conformance("mathvista") / "testmini.json")
    assert code == 0 and "judge: none used" in out
    assert round(record["scores"]["accuracy"], 2) == 34.8 and record["scores"]["total"] == 1000
    assert record["scores"]["n_ungraded"] == 0 and record["judge"] is None
    samples = read_samples(Path(out.split("wrote ")[1].strip()))
    assert len(samples) == 1000 and sum(s["score"] for s in samples) == 348


def _textvqa_files(tmp_path: Path) -> tuple[Path, Path]:
    annotation = {"data": [
        {"image_id": "img1", "question": "What brand is it?", "question_id": 1,
         "answers": ["nike"] * 4 + ["adidas"] * 6},
        {"image_id": "img2", "question": "What number?", "question_id": 2, "answers": ["two"] * 2 + ["3"] * 8},
    ]}
    answers = [
        {"question_id": "img1", "prompt": "What brand is it?\nReference OCR token: NIKE\nAnswer the question "
                                          "using a single word or phrase.", "text": "Nike", "answer_id": "x"},
        {"question_id": "img2", "prompt": "What number?\nAnswer the question using a single word or phrase.",
         "text": "2", "answer_id": "y"},
    ]
    (tmp_path / "ann.json").write_text(json.dumps(annotation))
    (tmp_path / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    return tmp_path / "answers.jsonl", tmp_path / "ann.json"


def test_textvqa_llava_answers(tmp_path, capsys):
    answers, annotation = _textvqa_files(tmp_path)
    assert detect_format(answers) == "textvqa-llava"
    code, record, _ = _score(capsys, answers, "--annotation", annotation, "--output", tmp_path / "out")
    assert code == 0 and record["scores"]["accuracy"] == pytest.approx(80.0)  # (1.0 + 0.6) / 2
    code, _, out = _score(capsys, answers, "--no-write")
    assert code == 2 and "--annotation" in out


def _mmbench_rows(prediction_for) -> list[dict]:
    texts = ["teddy bear", "rabbit", "cat", "dog"]
    rows = []
    for main_index, gold_text, category in ((1, "rabbit", "attribute"), (2, "dog", "scene")):
        for k in range(4):
            rotated = texts[k:] + texts[:k]
            answer = "ABCD"[rotated.index(gold_text)]
            rows.append({"index": main_index + k * 1_000_000, "question": "What is it?", "hint": None,
                         **dict(zip("ABCD", rotated)), "answer": answer, "category": category,
                         "l2-category": "coarse_perception", "split": "dev",
                         "prediction": prediction_for(main_index, answer)})
    return rows


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv"])
def test_mmbench_table(tmp_path, capsys, suffix):
    rows = _mmbench_rows(lambda main, answer: answer if main == 1 else "A")
    file = tmp_path / f"preds{suffix}"
    table = pd.DataFrame(rows)
    table.to_excel(file, index=False) if suffix == ".xlsx" else table.to_csv(file, sep="\t", index=False)
    code, record, _ = _score(capsys, file, "--output", tmp_path / "out", "--judge", "none")
    assert code == 0 and record["scores"]["accuracy"] == 50.0 and record["scores"]["n_questions"] == 2
    assert record["scores"]["category"] == {"attribute": 100.0, "scene": 0.0}


def test_mmbench_meta_supplies_missing_answers(tmp_path, capsys):
    rows = _mmbench_rows(lambda main, answer: answer)
    pd.DataFrame(rows).to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    bare = pd.DataFrame(rows).drop(columns=["answer", "category", "l2-category", "split"])
    bare.to_excel(tmp_path / "preds.xlsx", index=False)
    code, _, out = _score(capsys, tmp_path / "preds.xlsx", "--no-write")
    assert code == 2 and "preds.xlsx" in out and "'answer'" in out
    code, record, _ = _score(capsys, tmp_path / "preds.xlsx", "--annotation", tmp_path / "meta.tsv",
                             "--output", tmp_path / "out")
    assert code == 0 and record["scores"]["accuracy"] == 100.0


def _mmvet_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    meta = {f"v1_{i}": {"imagename": f"{i}.jpg", "capability": caps, "question": f"q{i}", "answer": "a"}
            for i, caps in enumerate([["rec", "ocr"], ["rec"], ["know"], ["ocr", "rec"]])}
    grades = {f"v1_{i}": {"model": ["gpt-4-0613"] * 2, "content": ["", ""], "score": s}
              for i, s in enumerate([[1.0, 0.5], [0.5, 0.5], [0.4, 0.5], [0.6, 0.4]])}
    (tmp_path / "mm-vet.json").write_text(json.dumps(meta))
    (tmp_path / "grades.json").write_text(json.dumps(grades))
    (tmp_path / "model.json").write_text(json.dumps({key: "pred" for key in meta}))
    return tmp_path / "model.json", tmp_path / "mm-vet.json", tmp_path / "grades.json"


def test_mmvet_results_with_an_official_grade_file(tmp_path, capsys):
    results, meta, grades = _mmvet_files(tmp_path)
    assert detect_format(results) == "mmvet-results"
    code, record, _ = _score(capsys, results, "--annotation", meta, "--grades", grades, "--num-runs", 2,
                             "--output", tmp_path / "out")
    assert code == 0
    scores = record["scores"]
    assert (scores["total"], scores["std"], scores["runs"]) == (55.0, 7.5, [62.5, 47.5])
    assert scores["capabilities"] == {"rec": 58.3, "ocr": 62.5, "know": 45.0} and record["judge"] is None


def test_mmvet_without_grades_or_judge_reports_ungraded_and_can_fail(tmp_path, capsys):
    results, meta, _ = _mmvet_files(tmp_path)
    code, _, out = _score(capsys, results, "--annotation", meta, "--judge", "none", "--no-write")
    assert code == 0 and "4 sample(s) could not be graded" in out
    code, _, out = _score(capsys, results, "--annotation", meta, "--judge", "none", "--no-write",
                          "--max-ungraded", "0.5")
    assert code == 2 and "could not be graded" in out


def test_paper_judge_without_key_fails_only_when_needed(tmp_path, capsys):
    results, meta, _ = _mmvet_files(tmp_path)
    code, _, out = _score(capsys, results, "--annotation", meta, "--no-write")
    assert code == 2 and "OPENAI_API_KEY" in out


def test_our_samples_file_is_rescored_by_the_task_aggregate(tmp_path, capsys):
    from mg_eval.tasks import get_task

    task = get_task("mme")
    docs = task.load_sample()
    samples = [task.process_result(doc, "Yes" if i % 2 else doc["answer"], "mgm") for i, doc in enumerate(docs)]
    expected = task.aggregate(samples, "mgm")
    record = make_results(run_id="r1", model={"name": "m", "path": None, "weights_hash": None},
                          task={"name": "mme", "benchmark": "mme", "version": str(task.version), "fingerprint": "f"},
                          protocol="mgm", generation={}, scores=expected, primary_metric="perception_total",
                          n_samples={"total": len(samples)}, limit=None)
    write_run(tmp_path / "run", record, samples)
    assert detect_format(tmp_path / "run") == "samples"
    code, rescored, _ = _score(capsys, tmp_path / "run", "--output", tmp_path / "out")
    assert code == 0 and rescored["scores"] == expected and rescored["protocol"] == "mgm"
    assert rescored["extra"]["source_format"] == "samples"


def test_bad_inputs_name_the_file_and_field(tmp_path, capsys):
    folder = tmp_path / "mme"
    folder.mkdir()
    (folder / "color.txt").write_text("a.jpg\tIs it red?\tYes\n" "a.jpg\tIs it blue?\tNo\tno\n")
    code, _, out = _score(capsys, folder, "--no-write")
    assert code == 2 and "color.txt:1" in out and "4" in out
    (folder / "color.txt").write_text("a.jpg\tIs it red?\tYes\tyes\n" "a.jpg\tIs it blue?\tNo\tno\n")
    code, _, out = _score(capsys, folder, "--no-write")
    assert code == 0 and "perception_total = 200.0000" in out and "no predictions for existence" in out
    (tmp_path / "x.csv").write_text("a,b\n")
    code, _, out = _score(capsys, tmp_path / "x.csv", "--no-write")
    assert code == 2 and "--format" in out
    broken = tmp_path / "mathvista.json"
    broken.write_text(json.dumps({"1": {"response": "3", "question_type": "free_form", "answer_type": "integer"}}))
    code, _, out = _score(capsys, broken, "--no-write")
    assert code == 2 and "pid 1" in out and "choices" in out


def test_scoring_writes_nothing_without_output(conformance, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = score_predictions(conformance("mme") / "lavin_predictions")
    assert result.scores["cognition_total"] == pytest.approx(249.64, abs=0.005)
    assert list(tmp_path.iterdir()) == []


def test_mathvista_llm_extraction_through_an_http_judge_and_its_cache(conformance, tmp_path, capsys,
                                                                       monkeypatch):
    from fake_server import FakeChatServer
    build_extraction_prompt = benchmark_module("mathvista", "scorer").build_extraction_prompt
    rule_extract = benchmark_module("mathvista", "scorer").rule_extract

    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MG_SCORE_TEST_KEY", "sk-score-test")
    outputs = json.loads((conformance("mathvista") / "output_bard.json").read_text())
    subset = dict(list(outputs.items())[:60])
    stored = {build_extraction_prompt(p["query"], p["response"]): p["extraction"] for p in subset.values()}
    expected = score_predictions_from(subset, tmp_path / "stored.json")
    stripped = {pid: {k: v for k, v in p.items() if k != "extraction"} for pid, p in subset.items()}
    (tmp_path / "no_extractions.json").write_text(json.dumps(stripped))
    need_llm = sum(rule_extract(p["response"], p["question_type"], p["answer_type"], p["choices"]) is None
                   for p in subset.values())
    assert need_llm > 20

    def gpt(body):  # plays the extractor: the answer Bard's official run stored for this prompt
        return {"content": stored.get(body["messages"][-1]["content"], "")}

    argv = [tmp_path / "no_extractions.json", "--judge", "openai:gpt-4-0613", "--judge-api-key-env",
            "MG_SCORE_TEST_KEY", "--judge-cache-dir", tmp_path / "cache", "--output", tmp_path / "out"]
    with FakeChatServer(responder=gpt, max_requests=500) as server:
        code, record, _ = _score(capsys, *argv, "--judge-base-url", server.base_url)
        first_requests = len(server.requests)
        code2, record2, _ = _score(capsys, *argv, "--judge-base-url", server.base_url)
        assert len(server.requests) == first_requests  # the second scoring is all cache hits
    distinct_prompts = len({(p["query"], p["response"]) for p in subset.values()})
    assert code == code2 == 0 and first_requests == distinct_prompts  # repeated prompts come from the cache
    assert record["scores"]["n_judge_extractions"] == need_llm
    assert record["scores"]["correct"] == expected and record["scores"]["n_ungraded"] == 0
    assert record["judge"] == "openai:gpt-4-0613" and record2["scores"] == record["scores"]
    assert "sk-score-test" not in json.dumps(record)


def score_predictions_from(problems: dict, file: Path) -> int:
    """Correct count of ``problems`` scored from their stored extractions."""
    file.write_text(json.dumps(problems))
    return score_predictions(file).scores["correct"]
