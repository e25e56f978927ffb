"""`mg-eval tasks` and `mg-eval validate` (their modules, without importing every sub-command)."""

from __future__ import annotations

import argparse
import shutil

import pytest

from mg_eval.cli import tasks as tasks_cli
from mg_eval.cli import validate as validate_cli
from mg_eval.errors import UserInputError
from mg_eval.tasks import get_task


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def test_tasks_lists_tasks_with_sample_counts_and_groups(capsys):
    assert _run(tasks_cli, ["--count-samples"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["mme"][1:5] == ["mme", "1", "8", "perception_total"]
    assert rows["mmmu_val"][3] == "4"
    assert "  mgm_paper: textvqa_val, mmbench_en_dev, mme, mmvet, mmmu_val, mathvista_testmini" in out


def test_tasks_lists_without_loading_samples_by_default(capsys):
    assert _run(tasks_cli, []) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["task"][:6] == ["task", "benchmark", "version", "metric", "size", "dataset"]
    assert rows["mme"][1:4] == ["mme", "1", "perception_total"]


def test_validate_paper_group_renders_both_protocols(capsys):
    assert _run(validate_cli, ["--tasks", "mgm_paper", "--show-prompts"]) == 0
    out = capsys.readouterr().out
    assert "6 task(s) checked, 0 failure(s)." in out
    assert out.count("--- mgm prompt ---") == 6 and out.count("--- lmms prompt ---") == 6
    assert "| Reference OCR token: STOP" in out


def test_validate_fails_with_a_clear_report_on_bad_data(tmp_path, capsys):
    folder = tmp_path / "mmvet"
    shutil.copytree(get_task("mmvet").sample_path, folder)
    (folder / "images" / "v1_2.png").write_bytes(b"garbage")
    assert _run(validate_cli, ["--tasks", "mmvet", "--data-path", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] mmvet" in out and "v1_2: the image is unreadable or corrupted" in out
    with pytest.raises(UserInputError, match="needs exactly one task"):
        _run(validate_cli, ["--data-path", str(folder)])
