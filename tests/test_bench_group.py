"""The mgm_extended group: its members, and `mg-eval tasks` listing their sizes and what each measures."""

from __future__ import annotations

import argparse

from mg_eval.cli import tasks as tasks_cli
from mg_eval.tasks import list_groups

EXTENDED = ["pope", "mmbench_cn_dev", "mmbench_en_dev_v11", "mmstar", "mmmu_pro_standard", "mmmu_pro_vision"]


def test_group_members():
    assert list_groups()["mgm_extended"] == EXTENDED


def test_tasks_lists_size_and_description(capsys):
    parser = argparse.ArgumentParser()
    tasks_cli.add_arguments(parser)
    assert tasks_cli.run(parser.parse_args([])) == 0  # no #sample column by default: size is column 4
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert rows["task"][4] == "size"
    assert rows["pope"][4] == "9000" and rows["mmstar"][4] == "1500" and rows["mmmu_pro_vision"][4] == "1730"
    assert rows["mme"][4] == "-"  # no metadata.size declared
    measures = out.split("what each measures (metadata.description):")[1]
    for name in EXTENDED:
        assert f"\n  {name}: " in measures
    assert f"  mgm_extended: {', '.join(EXTENDED)}" in out
