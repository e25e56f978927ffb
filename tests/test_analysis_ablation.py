"""Ablation specs: the shipped specs load and carry the paper's numbers exactly; bad specs fail clearly."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import yaml

from mg_eval.ablation.run import find_row_runs, run_ablation
from mg_eval.ablation.spec import load_spec, mgm_config_keys, parse_paper_value, parse_spec
from mg_eval.errors import UserInputError

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "mg_eval" / "analysis" / "reference"
SPECS = {"info_mining": "paper_ablation_info_mining.csv",
         "data_token_extension": "paper_ablation_data_token_extension.csv"}

MINIMAL = {
    "name": "tiny", "base": "mgm-7b",
    "metrics": [{"key": "textvqa", "task": "textvqa_val", "score": "accuracy"}],
    "rows": [{"id": "a", "label": "A", "checkpoint": "ckpt/a", "delta": {"mining": False}},
             {"id": "b", "label": "B", "checkpoint": "ckpt/b", "delta": {"image_size_aux": 768}}],
}


def _with(**changes) -> dict:
    spec = yaml.safe_load(yaml.safe_dump(MINIMAL))
    spec.update(changes)
    return spec


def _with_row(index: int, **changes) -> dict:
    spec = _with()
    spec["rows"][index].update(changes)
    return spec


@pytest.mark.parametrize("name", sorted(SPECS))
def test_shipped_specs_load(name: str) -> None:
    spec = load_spec(REPO / "ablations" / f"{name}.yaml")
    assert spec.name == name and spec.base == "mgm-7b"
    assert [m.task for m in spec.metrics] == ["textvqa_val", "mme", "mmvet"]
    for row in spec.rows:
        assert set(row.config_overrides()) <= mgm_config_keys()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_paper_numbers_equal_the_reference_csv(name: str) -> None:
    spec = load_spec(REPO / "ablations" / f"{name}.yaml")
    with open(REFERENCE / SPECS[name], encoding="utf-8") as handle:
        reference = list(csv.DictReader(handle))
    assert len(reference) == len(spec.rows)
    for row, ref in zip(spec.rows, reference):
        assert row.label == ref["label"]
        for key in ("textvqa", "mme", "mmvet"):
            assert row.paper[key] == parse_paper_value(ref[key]), (name, row.id, key)
        for key in ("lr", "hr", "tokens"):
            assert row.setting[key] == (ref[key] or "-"), (name, row.id, key)


#: sha256 of the project's transcription of the paper's tables (the shared reference CSVs), pinned here so the
#: check runs from the repository alone.
TRANSCRIPTION_SHA256 = {
    "paper_ablation_data_token_extension.csv": "1df25863f79a1983b82b12258800e9448125086f34a16410c54722ff9602712f",
    "paper_ablation_info_mining.csv": "95fdd05202036988b96b3ef36486743720ad8eb5a3933af849ea1a3c22806a25",
    "paper_table1_leaderboard.csv": "26e4304fc8d244369f1ea767d314fd1cadc9a1f091f6ce785e256abb9b93e4ef",
}


def test_reference_csvs_are_the_shared_transcription() -> None:
    for name, digest in TRANSCRIPTION_SHA256.items():
        assert hashlib.sha256((REFERENCE / name).read_bytes()).hexdigest() == digest, name


def test_paper_deltas_equal_the_printed_ones() -> None:
    # Deltas printed in the paper (mg_eval/analysis/reference/README.md): rows 2-1, 3-2, 5-4, 6-5, 7-6.
    printed = {("lr224_mining_convl_hr512", "textvqa"): 4.0, ("lr224_mining_convl_hr512", "mme"): 18.1,
               ("lr224_mining_convl_hr512", "mmvet"): 0.6, ("lr224_mining_convl_hr768", "mme"): -6.9,
               ("lr224_mining_convl_hr768", "mmvet"): 0.6, ("lr336_mining_convb_hr768", "textvqa"): 0.2,
               ("lr336_mining_convb_hr768", "mme"): -59.0, ("lr336_mining_convb_hr768", "mmvet"): 2.7,
               ("lr336_mining_convl_hr768", "textvqa"): 3.1, ("lr336_mining_convl_hr768", "mmvet"): 0.8,
               ("lr336_mining_convxxl_hr768", "textvqa"): 0.5, ("lr336_mining_convxxl_hr768", "mmvet"): -0.8}
    spec = load_spec(REPO / "ablations" / "info_mining.yaml")
    for (row_id, key), delta in printed.items():
        row = spec.row(row_id)
        previous = spec.reference_row(row)
        assert round(row.paper[key].value - previous.paper[key].value, 1) == delta, (row_id, key)


def test_illegible_cells_stay_empty() -> None:
    spec = load_spec(REPO / "ablations" / "info_mining.yaml")
    assert spec.row("lr224_mining_convl_hr768").paper["textvqa"].value is None
    assert spec.row("lr336_mining_convxxl_hr768").paper["mme"].value is None


def test_delta_to_previous_row_restarts_per_section() -> None:
    spec = load_spec(REPO / "ablations" / "info_mining.yaml")
    assert spec.reference_row(spec.row("lr336_baseline")) is None
    assert spec.reference_row(spec.row("lr224_mining_convl_hr512")).id == "lr224_baseline"


def test_compare_to_overrides_the_previous_row() -> None:
    spec = parse_spec(_with_row(1, compare_to=None))
    assert spec.reference_row(spec.row("b")) is None
    raw = _with()
    raw["rows"].append({"id": "c", "label": "C", "checkpoint": "ckpt/c", "compare_to": "a"})
    spec = parse_spec(raw)
    assert spec.reference_row(spec.row("c")).id == "a"


def test_training_view_of_a_row() -> None:
    spec = load_spec(REPO / "ablations" / "data_token_extension.yaml")
    row = spec.row("token_extension")
    assert row.mining is True
    assert row.config_overrides() == {"image_grid": 2, "image_global": True, "image_size_aux": 1536,
                                      "tokenizer_model_max_length": 4096}
    assert spec.row("baseline").mining is False and spec.row("baseline").config_overrides() == {}
    assert spec.row("no_textcaps").data == ("llava_665k", "sharegpt4v")


@pytest.mark.parametrize("raw, message", [
    (_with(colour="red"), r"unknown key 'colour'"),
    (_with_row(0, lable="A"), r"unknown key 'lable'.*did you mean 'label'"),
    (_with_row(0, label=""), r"rows\[0\]: missing 'label'"),
    (_with_row(1, delta={"image_sise_aux": 768}), r"row 'b': delta key 'image_sise_aux' is not an MGMConfig key.*image_size_aux"),
    (_with_row(1, delta={"learning_rate": 1e-3}), r"delta key 'learning_rate' is not an MGMConfig key"),
    (_with_row(0, delta={"mining": "no"}), r"delta.mining must be true or false"),
    (_with_row(0, data=["llava_665k", "laion"]), r"unknown data source 'laion'"),
    (_with_row(0, paper={"mme": 1500}), r"paper: unknown key 'mme'"),
    (_with_row(0, paper={"textvqa": "fifty"}), r"paper.textvqa: 'fifty' is not a number"),
    (_with_row(1, id="a"), r"'a' appears twice"),
    (_with_row(1, compare_to="zz"), r"compare_to 'zz' is not a row id"),
    (_with_row(0, checkpoint=None), r"row 'a': missing 'checkpoint'"),
    (_with(protocol="vlmevalkit"), r"protocol 'vlmevalkit'"),
    (_with(base="mgm-7x"), r"base 'mgm-7x' is not a model variant \(did you mean 'mgm-7b'"),
    (_with(rows=[]), r"'rows' must be a non-empty list"),
    ({k: v for k, v in MINIMAL.items() if k != "base"}, r"missing required key 'base'"),
])
def test_bad_specs_are_rejected_clearly(raw: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_spec(raw, where="spec.yaml")


def test_load_spec_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nbase: [unclosed\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"bad.yaml: not valid YAML"):
        load_spec(path)
    with pytest.raises(UserInputError, match=r"does not exist"):
        load_spec(tmp_path / "missing.yaml")


def _fake_checkpoint(path: Path, content: bytes = b"weights") -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}", encoding="utf-8")
    (path / "model.bin").write_bytes(content)


def test_run_ablation_evaluates_built_rows_only_and_resumes(tmp_path: Path) -> None:
    from test_analysis_fixtures import write_fixture_run

    spec = parse_spec(_with())
    _fake_checkpoint(tmp_path / "ckpt" / "b")
    calls = []

    def fake_evaluate(model_path, tasks, *, options):
        calls.append((Path(model_path).name, list(tasks)))
        from mg_eval.models.hashing import weights_hash
        samples = [{"doc_id": "q1", "score": 1.0}]
        write_fixture_run(Path(options.output_dir), "b", "textvqa_val", "textvqa", {"accuracy": 100.0},
                          samples, weights_hash=weights_hash(model_path))

    outcomes = run_ablation(spec, tmp_path / "out", checkpoint_root=tmp_path, evaluate_fn=fake_evaluate)
    assert [(o.row_id, o.status) for o in outcomes] == [("a", "pending"), ("b", "evaluated")]
    assert calls == [("b", ["textvqa_val"])]
    assert set(find_row_runs(spec, tmp_path / "out")) == {"b"}

    outcomes = run_ablation(spec, tmp_path / "out", checkpoint_root=tmp_path, evaluate_fn=fake_evaluate)
    assert outcomes[1].status == "up to date" and len(calls) == 1      # nothing re-run

    _fake_checkpoint(tmp_path / "ckpt" / "b", b"retrained weights")      # new weights: stale result
    outcomes = run_ablation(spec, tmp_path / "out", checkpoint_root=tmp_path, evaluate_fn=fake_evaluate)
    assert outcomes[1].status == "evaluated" and len(calls) == 2


def test_find_row_runs_keeps_limited_and_full_runs_apart(tmp_path: Path) -> None:
    from test_analysis_fixtures import write_fixture_run

    spec = parse_spec(_with())
    root = tmp_path / "runs" / "a"
    samples = [{"doc_id": "q1", "score": 1.0}]
    full = write_fixture_run(root, "a", "textvqa_val", "textvqa", {"accuracy": 100.0}, samples,
                             run_id="20260101T000000000000Z_mgm")
    limited = write_fixture_run(root, "a", "textvqa_val", "textvqa", {"accuracy": 100.0}, samples, limit=1,
                                run_id="20260102T000000000000Z_mgm_limit1")
    write_fixture_run(root, "a", "textvqa_val", "textvqa", {"accuracy": 100.0}, samples, protocol="lmms",
                      run_id="20260103T000000000000Z_lmms")
    assert find_row_runs(spec, tmp_path) == {"a": {"textvqa_val": full}}
    assert find_row_runs(spec, tmp_path, limit=1) == {"a": {"textvqa_val": limited}}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_row_delta_builds_a_valid_mgm_config(name: str) -> None:
    from mg_model import configuration_mgm as configuration

    for row in load_spec(REPO / "ablations" / f"{name}.yaml").rows:
        config = configuration.MGMConfig(**row.config_overrides())
        for key, value in row.config_overrides().items():
            assert getattr(config, key) == value, (row.id, key)


def test_run_ablation_refuses_an_unknown_task_before_any_work(tmp_path: Path) -> None:
    raw = _with(metrics=[{"key": "tv", "task": "textvqa_vall", "score": "accuracy"}])
    _fake_checkpoint(tmp_path / "ckpt" / "b")
    calls = []
    with pytest.raises(UserInputError, match=r"metric 'tv'.*textvqa_vall"):
        run_ablation(parse_spec(raw), tmp_path / "out", checkpoint_root=tmp_path,
                     evaluate_fn=lambda *a, **k: calls.append(a))
    assert calls == []
