"""`mg-eval score` detection: one official file of every benchmark lands on its own benchmark; a file several
formats could read is refused (one error line, exit 2) unless --format or --task says which."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mg_eval.cli.main import main
from mg_eval.errors import UserInputError
from mg_eval.rescore import ScoreOptions, detect_format, prediction_formats, score_predictions
from mg_eval.tasks import list_benchmarks

FORMATS = prediction_formats()


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


#: benchmarks with no official prediction file to re-score: synth_detail is this repository's CPU-scale
#: synthetic benchmark (tasks/synth_detail/benchmark.yaml), made by no other tool
NO_OFFICIAL_FILES = {"synth_detail"}


def test_every_benchmark_declares_a_format_with_a_shipped_example():
    """Every benchmark's official prediction files are re-scorable, and a folder added later is covered: it
    declares a format, and each format names a file of its own."""
    names = {benchmark.name for benchmark in list_benchmarks()}
    assert NO_OFFICIAL_FILES <= names
    for benchmark in list_benchmarks():
        if benchmark.name in NO_OFFICIAL_FILES:
            assert not benchmark.prediction_formats
            continue
        assert benchmark.prediction_formats, f"{benchmark.name}: declares no prediction format (mg-eval score)"
        for fmt in benchmark.prediction_formats:
            assert fmt.example is not None, f"{benchmark.name}: format {fmt.name} declares no example file"
            assert fmt.example.exists(), fmt.example
            assert fmt.example.is_relative_to(benchmark.folder)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_official_example_is_detected_and_scored_as_its_own_benchmark(name):
    fmt = FORMATS[name]
    assert detect_format(fmt.example) == name  # exactly one format claims it (else an error)
    result = score_predictions(fmt.example, options=ScoreOptions(annotation=fmt.example_annotation))
    assert (result.benchmark, result.task, result.source_format) == (fmt.benchmark, fmt.task, name)
    assert result.n_samples > 0 and fmt.primary_metric in result.scores


def _mmstar_table(tmp_path):
    rows = [{"index": i, "question": "What is shown?", "A": "a cat", "B": "a dog", "answer": "A", "prediction": "A",
             "category": "math", "l2-category": "geometry"} for i in range(3)]
    file = tmp_path / "model_MMStar.xlsx"
    pd.DataFrame(rows).to_excel(file, index=False)
    return file


def test_mmstar_xlsx_is_not_scored_as_mmbench(conformance, capsys):
    code = main(["score", str(conformance("mmstar", "synthetic_MMStar.xlsx")), "--no-write", "--judge", "none"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("mmstar (mmstar-vlmevalkit, 60 samples): accuracy = 20.0000")


def test_categories_tell_an_mmstar_table_from_an_mmbench_one(tmp_path):
    bare = tmp_path / "preds.tsv"
    pd.DataFrame([{"index": 1, "question": "q", "A": "x", "B": "y", "answer": "A", "category": "coarse perception",
                   "l2-category": "image emotion", "prediction": "A"}]).to_csv(bare, sep="\t", index=False)
    assert detect_format(bare) == "mmstar-vlmevalkit"  # MMStar categories: MMBench's detector stays out
    table = pd.read_csv(bare, sep="\t").drop(columns=["category", "l2-category"])
    table.to_csv(bare, sep="\t", index=False)  # no categories: MMBench's detector claims it, MMStar's does not
    assert detect_format(bare) == "mmbench-table"


def test_ambiguous_file_one_error_line_exit_2_and_task_or_format_decides(tmp_path, capsys, monkeypatch):
    import mg_eval.rescore.flow as flow

    file = _mmstar_table(tmp_path)
    claims_all = {name: fmt for name, fmt in FORMATS.items()}
    for name in ("mmbench-table", "mmstar-vlmevalkit"):  # two formats both claim the file
        claims_all[name] = type(FORMATS[name])(**{**FORMATS[name].__dict__, "detect": lambda path: True})
    monkeypatch.setattr(flow, "prediction_formats", lambda root=None: claims_all)
    with pytest.raises(UserInputError, match="several prediction formats could read this file: mmbench-table"):
        detect_format(file)
    code = main(["score", str(file), "--no-write", "--judge", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "error:" in err[0]
    assert "mmbench-table (mmbench_en_dev)" in err[0] and "mmstar-vlmevalkit (mmstar)" in err[0]
    assert "--format" in err[0] and "--task" in err[0]
    assert detect_format(file, "mmstar") == "mmstar-vlmevalkit"
    assert detect_format(file, "mmbench_cn_dev") == "mmbench-table"  # another task of the benchmark
    result = score_predictions(file, task="mmstar")
    assert result.benchmark == "mmstar" and result.scores["accuracy"] == 100.0


def test_task_of_another_benchmark_than_the_format_is_refused(conformance):
    with pytest.raises(UserInputError, match="--task mmstar is a task of mmstar"):
        score_predictions(conformance("mmmu_pro", "synthetic_vision_cot.jsonl"), "mmmu-pro-vision-output",
                          task="mmstar")
    result = score_predictions(conformance("mmmu_pro", "synthetic_vision_cot.jsonl"), task="mmmu_pro_vision")
    assert result.task == "mmmu_pro_vision"


def test_mmmu_pro_output_errors_name_the_line(tmp_path, capsys):
    good = '{"id": "a", "options": "[\'x\', \'y\']", "answer": "A", "response": "Answer: A"}\n'
    file = tmp_path / "gpt_vision_cot.jsonl"
    file.write_text(good + '{"id": "b", "options": "[\'x\']", "answer": "A"}\n')
    code = main(["score", str(file), "--no-write"])
    err = capsys.readouterr().err
    assert code == 2 and f"{file}:2: missing field(s) ['response']" in err
    file.write_text(good + "{not json\n")
    code = main(["score", str(file), "--no-write"])
    assert code == 2 and f"{file}:2: not valid JSON" in capsys.readouterr().err


def test_mmmu_pro_file_evaluated_by_the_official_script_rescores_to_its_printed_number(conformance, tmp_path):
    """evaluate.py writes pred_indexs / if_right back into the file; its random draws are reused, so the number
    is the one the official run printed (here: the official per-row results of the conformance run)."""
    source = conformance("mmmu_pro", "synthetic_standard10_direct.jsonl")
    official = json.loads(conformance("mmmu_pro", "expected.json").read_text())["mmmu_pro_synthetic"]
    rows = official["synthetic_standard10_direct"]["per_sample"]
    lines = [json.loads(line) for line in source.read_text().splitlines()]
    evaluated = tmp_path / "MGM-7B_standard_direct.jsonl"
    evaluated.write_text("".join(json.dumps({**line, "pred_indexs": row["parsed"], "if_right": row["if_right"]}) + "\n"
                                 for line, row in zip(lines, rows)))
    result = score_predictions(evaluated)
    right = sum(row["if_right"] for row in rows)
    assert result.task == "mmmu_pro_standard" and result.scores["accuracy"] == pytest.approx(100 * right / len(rows))
    assert result.scores["n_random_from_file"] == sum(row["random"] for row in rows) > 0
    assert result.scores["n_random_fallback"] == 0


def test_damaged_table_is_one_error_line(tmp_path, capsys):
    file = tmp_path / "MGM_MMStar.xlsx"
    file.write_bytes(b"PK\x03\x04 not a zip archive")
    code = main(["score", str(file), "--no-write", "--format", "mmstar-vlmevalkit"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{file}: cannot read the xlsx" in err[0]
    code = main(["score", str(file), "--no-write"])  # detection: simply no format claims it
    assert code == 2 and "cannot tell which prediction format" in capsys.readouterr().err
