"""Run settings declared once: the flags build RunOptions (cli/run_options.py), ``evaluate`` takes them (or
RunOptions' own keywords, never both), the ablation runner passes them on, and the shared flags keep one meaning."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from engine_fakes import FakeGenerator, FakeTask

from mg_eval.api import RunOptions
from mg_eval.cli.main import build_parser
from mg_eval.cli.run_options import FLAG_FIELDS, run_options_from_args
from mg_eval.engine import evaluate


def _parse(*argv: str):
    return build_parser(argv[0]).parse_args(list(argv))


def test_run_flags_build_the_options_object() -> None:
    args = _parse("run", "--model", "m", "--tasks", "mme", "--batch-size", "3", "--limit", "5", "--output", "out",
                  "--num-workers", "0", "--device", "cpu", "--dtype", "float32", "--max-new-tokens-cap", "7",
                  "--no-progress", "--no-share", "--attn", "sdpa", "--continuous", "--fresh")
    options = run_options_from_args(args, protocol="lmms", data_paths={"mme": "/data"})
    assert options == RunOptions(protocol="lmms", batch_size=3, limit=5, output_dir="out", num_workers=0,
                                 dtype="float32", device="cpu", data_paths={"mme": "/data"}, fresh=True,
                                 generation_overrides={"max_new_tokens_cap": 7}, progress=False,
                                 decode={"attn": "sdpa", "compile": False}, continuous=True, share=False)


def test_every_run_option_is_reached_from_the_command_line() -> None:
    """A new RunOptions field needs its flag (or a setting the command resolves): none is left unreachable."""
    resolved = {"judge", "data_paths", "backend_options"}  # built by `mg-eval run` from several flags / files
    special = {"generation_overrides", "progress", "share", "decode"}  # --max-new-tokens-cap, --no-progress, ...
    fields = {field.name for field in dataclasses.fields(RunOptions)}
    assert set(FLAG_FIELDS.values()) | resolved | special == fields
    run_flags = vars(_parse("run", "--model", "m", "--tasks", "mme"))
    assert set(FLAG_FIELDS) <= set(run_flags)


def test_ablate_without_engine_flags_keeps_the_run_option_defaults() -> None:
    args = _parse("ablate", "ablations/info_mining.yaml")
    options = run_options_from_args(args, output_dir="results/ablations/x")
    assert options == RunOptions(output_dir="results/ablations/x")


def test_evaluate_takes_options_or_keywords_not_both(tmp_path: Path) -> None:
    task = FakeTask(tmp_path / "data", n=3)
    with pytest.raises(TypeError, match="not both.*batch_size"):
        evaluate(FakeGenerator(), [task], options=RunOptions(output_dir=tmp_path / "a"), batch_size=2)
    with pytest.raises(TypeError, match="'batchsize'"):
        evaluate(FakeGenerator(), [task], batchsize=2, output_dir=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    keywords = {"output_dir": tmp_path / "c", "batch_size": 2, "progress": False, "num_workers": 0}
    [by_keywords] = evaluate(FakeGenerator(), [task], **keywords)
    [by_options] = evaluate(FakeGenerator(), [task], options=RunOptions(**{**keywords, "output_dir": tmp_path / "d"}))
    assert by_keywords.results["scores"] == by_options.results["scores"] and by_keywords.n_computed == 3


def test_run_ablation_hands_each_row_the_options_with_its_root(tmp_path: Path) -> None:
    from test_analysis_ablation import _fake_checkpoint, _with

    from mg_eval.ablation.run import row_results_root, run_ablation
    from mg_eval.ablation.spec import parse_spec

    spec = parse_spec(_with())
    _fake_checkpoint(tmp_path / "ckpt" / "b")
    seen = []
    options = RunOptions(batch_size=3, limit=2, device="cpu", output_dir="ignored", protocol="lmms")
    run_ablation(spec, tmp_path / "out", options=options, checkpoint_root=tmp_path,
                 evaluate_fn=lambda path, tasks, *, options: seen.append(options))
    [row_options] = seen
    assert row_options == dataclasses.replace(options, protocol=spec.protocol,
                                              output_dir=str(row_results_root(tmp_path / "out", spec.row("b"))))


def test_training_seed_has_its_own_name_and_the_old_spelling_still_works(capsys) -> None:
    assert _parse("train", "--train-seed", "4").train_seed == 4
    assert _parse("train", "--seed", "3").train_seed == 3
    assert "--seed is deprecated here; use --train-seed" in capsys.readouterr().err
    assert _parse("train").train_seed == 0


def test_results_reference_rows_and_the_old_spelling(capsys) -> None:
    assert _parse("results", "--compare", "--reference-rows").reference_rows == []
    assert _parse("results", "--compare", "--reference", "all").reference_rows == ["all"]
    assert "use --reference-rows" in capsys.readouterr().err
    assert _parse("results").reference_rows is None


@pytest.mark.parametrize("command", ["plot", "report", "ablate"])
def test_bootstrap_seed_means_the_resampling_seed_everywhere(command: str) -> None:
    argv = {"plot": ["plot"], "report": ["report", "r", "--output", "o"], "ablate": ["ablate", "s.yaml"]}[command]
    parser = build_parser(command)
    args = parser.parse_args([*argv, "--seed", "5", "--resamples", "9"])
    assert (args.seed, args.resamples) == (5, 9)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    seed_help = next(action.help for action in sub._actions if "--seed" in action.option_strings)
    assert seed_help.startswith("resampling seed")
