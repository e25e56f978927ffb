"""Ablation tables rendered from fixture runs equal the stored goldens; `mg-eval ablate` end to end.

Regenerate the goldens on purpose only: ``python3 tests/test_analysis_tables.py --update``.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mg_eval.ablation.run import find_row_runs
from mg_eval.ablation.spec import load_spec, parse_spec
from mg_eval.analysis.tables import (
    NOT_EVALUATED,
    PENDING,
    UNGRADED,
    StatsSettings,
    build_table,
    latex_escape,
    render_csv,
    render_latex,
    render_markdown,
)
from mg_eval.cli.main import main as mg_eval_main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_analysis_fixtures import write_fixture_ablation, write_fixture_run  # noqa: E402

from mg_eval.tasks import benchmark_module

mmvet = benchmark_module("mmvet", "scorer")

GOLDENS = Path(__file__).resolve().parent / "goldens"
SETTINGS = StatsSettings(n_resamples=1000, seed=0)


def _fixture_table(root: Path):
    spec_path = write_fixture_ablation(root)
    spec = load_spec(spec_path)
    return build_table(spec, find_row_runs(spec, root), SETTINGS, checkpoint_root=root)


@pytest.fixture(scope="module")
def fixture_table(tmp_path_factory):
    return _fixture_table(tmp_path_factory.mktemp("ablation"))


@pytest.mark.parametrize("ext, render", [("md", render_markdown), ("tex", render_latex), ("csv", render_csv)])
def test_table_equals_golden(fixture_table, ext: str, render) -> None:
    golden = (GOLDENS / f"analysis_fixture_ablation.{ext}").read_text(encoding="utf-8")
    assert render(fixture_table) == golden


def test_pending_and_noise_rows_read_right(fixture_table) -> None:
    rows = {trow.row.id: trow for trow in fixture_table.rows}
    assert rows["later"].status == PENDING
    assert all(cell.status == PENDING for cell in rows["later"].cells.values())
    mining = rows["mining"].cells["textvqa"]
    assert mining.delta.p_value < 0.05 and mining.delta.low > 0          # a real gain
    same = rows["same"].cells["mme"]
    assert same.delta.delta == 0.0 and same.delta.p_value == 1.0           # identical outcomes: pure noise
    assert rows["base"].cells["textvqa"].delta is None                     # first row of a section: no Δ
    assert rows["mining"].cells["textvqa"].paper_delta == pytest.approx(61.5 - 58.2)


def test_csv_is_machine_readable(fixture_table) -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(fixture_table))))
    assert [r["row"] for r in rows] == ["base", "mining", "same", "later"]
    mining = rows[1]
    assert float(mining["textvqa_ci_low"]) < float(mining["textvqa"]) < float(mining["textvqa_ci_high"])
    assert mining["textvqa_paper"] == "61.5*" and rows[3]["mme"] == "pending"


def test_row_with_a_checkpoint_but_no_run_is_not_evaluated(tmp_path: Path) -> None:
    spec_path = write_fixture_ablation(tmp_path)
    (tmp_path / "ckpt" / "later").mkdir(parents=True)
    (tmp_path / "ckpt" / "later" / "config.json").write_text("{}", encoding="utf-8")
    spec = load_spec(spec_path)
    table = build_table(spec, find_row_runs(spec, tmp_path), SETTINGS, checkpoint_root=tmp_path)
    assert table.rows[-1].status == NOT_EVALUATED


def test_permutation_test_can_replace_the_bootstrap(tmp_path: Path) -> None:
    spec = load_spec(write_fixture_ablation(tmp_path))
    table = build_table(spec, find_row_runs(spec, tmp_path), StatsSettings(n_resamples=500, test="permutation"))
    delta = table.rows[1].cells["textvqa"].delta
    assert delta.method == "paired permutation" and delta.p_value < 0.05
    assert "paired permutation test" in render_markdown(table)


def test_judge_scores_without_a_judge_show_as_ungraded(tmp_path: Path) -> None:
    records = [mmvet.process_result(f"v1_{i}", "pred", "q", "gt", ["rec"]) for i in range(3)]  # no grades
    write_fixture_run(tmp_path / "runs" / "a", "a", "mmvet", "mmvet", mmvet.aggregate(records), records)
    spec = parse_spec({"name": "j", "base": "mgm-7b", "metrics": [{"key": "mmvet", "task": "mmvet", "score": "total"}],
                       "rows": [{"id": "a", "label": "A", "checkpoint": "ckpt/a"}]})
    table = build_table(spec, find_row_runs(spec, tmp_path), SETTINGS)
    assert table.rows[0].cells["mmvet"].status == UNGRADED
    assert "3 sample(s) ungraded" in render_markdown(table)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (apt-get install texlive-latex-recommended)")
def test_latex_table_compiles_and_fits_a_two_column_page(fixture_table, tmp_path: Path) -> None:
    (tmp_path / "table.tex").write_text(render_latex(fixture_table), encoding="utf-8")
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage[margin=0.75in]{geometry}\n"
                                      "\\usepackage{booktabs}\n\\begin{document}\n\\input{table.tex}\n"
                                      "\\end{document}\n", encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "Overfull \\hbox" not in done.stdout  # fits the 7 in text width of a two-column paper


def test_latex_escaping() -> None:
    assert latex_escape("a_b & 50% Δ") == r"a\_b \& 50\% $\Delta$"


def test_cli_ablate_render_only(tmp_path: Path, capsys) -> None:
    spec_path = write_fixture_ablation(tmp_path)
    code = mg_eval_main(["ablate", str(spec_path), "--render-only", "--output", str(tmp_path),
                         "--checkpoint-root", str(tmp_path), "--resamples", "1000"])
    assert code == 0
    out = capsys.readouterr().out
    assert "| + Not trained yet | 1536 | pending |" in out
    for ext in ("md", "tex", "csv"):
        written = (tmp_path / f"fixture_ablation.{ext}").read_text(encoding="utf-8")
        assert written == (GOLDENS / f"analysis_fixture_ablation.{ext}").read_text(encoding="utf-8")


def test_cli_ablate_reports_pending_rows_without_failing(tmp_path: Path, capsys) -> None:
    spec_path = write_fixture_ablation(tmp_path / "spec")
    code = mg_eval_main(["ablate", str(spec_path), "--output", str(tmp_path / "empty"),
                         "--checkpoint-root", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "base: pending" in out and "later: pending" in out


def test_cli_ablate_bad_spec_is_a_clear_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nbase: mgm-7b\nmetrics: []\nrows: []\n", encoding="utf-8")
    assert mg_eval_main(["ablate", str(path), "--render-only"]) == 2
    assert "'metrics' must be a non-empty list" in capsys.readouterr().err


def test_cli_train_without_training_support_says_so(tmp_path: Path, capsys, monkeypatch) -> None:
    spec_path = write_fixture_ablation(tmp_path)
    for module in ("mg_model.train", "mg_model.train.data", "mg_eval.ablation.train"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if the package were absent
    assert mg_eval_main(["ablate", str(spec_path), "--train", "--output", str(tmp_path)]) == 2
    assert "training support not installed" in capsys.readouterr().err


def test_cli_train_without_a_recipe_names_the_missing_file(tmp_path: Path, capsys) -> None:
    spec_path = write_fixture_ablation(tmp_path)
    assert mg_eval_main(["ablate", str(spec_path), "--train", "--output", str(tmp_path)]) == 2
    assert "fixture_ablation.train.yaml" in capsys.readouterr().err


if __name__ == "__main__" and "--update" in sys.argv:
    import tempfile

    table = _fixture_table(Path(tempfile.mkdtemp()))
    GOLDENS.mkdir(exist_ok=True)
    for ext, render in (("md", render_markdown), ("tex", render_latex), ("csv", render_csv)):
        (GOLDENS / f"analysis_fixture_ablation.{ext}").write_text(render(table), encoding="utf-8")
    print(f"goldens written to {GOLDENS}")
