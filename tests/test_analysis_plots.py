"""`mg-eval plot`: figures are written, non-trivial, paper-sized; the reference table is read exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from mg_eval.analysis import plots
from mg_eval.cli.main import main as mg_eval_main
from mg_eval.errors import UserInputError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_analysis_fixtures import write_fixture_ablation, write_fixture_run  # noqa: E402

DPI = 120  # the default is 300; a lower resolution keeps the test fast, sizes are checked in inches
REFERENCE = Path(__file__).resolve().parent.parent / "mg_eval" / "analysis" / "reference" / "paper_table1_leaderboard.csv"


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Run `mg-eval ablate --render-only` then `mg-eval plot` once on the fixture runs."""
    root = tmp_path_factory.mktemp("plots")
    spec = write_fixture_ablation(root / "ablation")
    rc_before = dict(matplotlib.rcParams)
    assert mg_eval_main(["ablate", str(spec), "--render-only", "--output", str(root / "ablation"),
                         "--resamples", "200"]) == 0
    assert mg_eval_main(["plot", str(root / "ablation" / "runs"), "--reference", str(REFERENCE),
                         "--ablation", str(root / "ablation" / "fixture_ablation.csv"),
                         "--output", str(root / "figures"), "--resamples", "200", "--dpi", str(DPI)]) == 0
    return root / "figures", rc_before


@pytest.mark.parametrize("name", ["leaderboard_bars", "leaderboard_heatmap", "fixture_ablation_deltas"])
def test_figures_are_written_and_not_blank(figures, name: str) -> None:
    folder, _ = figures
    png, svg = folder / f"{name}.png", folder / f"{name}.svg"
    assert png.stat().st_size > 20_000 and svg.stat().st_size > 5_000
    image = np.asarray(Image.open(png).convert("RGB"))
    height, width, _ = image.shape
    assert width / DPI >= 3.0 and height / DPI >= 0.8      # at least a column wide
    assert width / DPI <= 7.6                              # fits a two-column page (7 in + tight bbox)
    non_white = np.any(image < 245, axis=-1).mean()
    assert non_white > 0.03                                # drawn content, not an empty canvas
    packed = (image[..., 0].astype(np.uint32) << 16) | (image[..., 1].astype(np.uint32) << 8) | image[..., 2]
    assert np.unique(packed).size > 50                     # several colours (bars, text, colour map)


def test_svg_keeps_text_and_puts_mme_on_its_own_axis(figures) -> None:
    folder, _ = figures
    bars = (folder / "leaderboard_bars.svg").read_text(encoding="utf-8")
    assert "TextVQA" in bars and "MME (P of 2000, C of 800)" in bars and "score (%)" in bars
    heatmap = (folder / "leaderboard_heatmap.svg").read_text(encoding="utf-8")
    assert "GPT-4V" in heatmap and "Mini-Gemini-HD (Hermes-2-Yi-34B)" in heatmap


def test_plotting_leaves_global_matplotlib_state_alone(figures) -> None:
    _, rc_before = figures
    assert dict(matplotlib.rcParams) == rc_before


def test_reference_table_is_read_exactly() -> None:
    entries = {entry.label: entry for entry in plots.load_reference(REFERENCE)}
    assert len(entries) == 28  # 16 normal-resolution, 9 high-resolution, 3 private
    assert entries["Qwen-VL† (Qwen-7B)"].values["textvqa"] == 63.8          # "63.8*": mark dropped, value kept
    assert entries["LLaVA-1.5 (Vicuna-13B)"].values["mme_cognition"] == 295
    assert entries["LLaVA-1.5 (Vicuna-7B)"].values["mme_cognition"] is None  # empty cell stays empty
    assert entries["GPT-4V"].values["mmmu_test"] == 55.7


def test_reference_row_selection() -> None:
    entries = plots.load_reference(REFERENCE)
    assert [e.label for e in plots.select_reference(entries, None)] == list(plots.DEFAULT_REFERENCE_ROWS)
    assert len(plots.select_reference(entries, ["all"])) == 28
    with pytest.raises(UserInputError, match="not in the table"):
        plots.select_reference(entries, ["Mini-Gemini (Vicuna-70B)"])


def test_collect_results_marks_limited_runs_and_adds_intervals(tmp_path: Path) -> None:
    samples = [{"doc_id": f"q{i}", "score": float(i % 2)} for i in range(20)]
    write_fixture_run(tmp_path, "MGM-7B", "textvqa_val", "textvqa", {"accuracy": 50.0}, samples, limit=20,
                      run_id="20260101T000000000000Z_mgm_limit20")
    (entry,) = plots.collect_results([tmp_path], n_resamples=200)
    assert entry.label == "MGM-7B (limited)" and entry.values == {"textvqa": 50.0}
    low, high = entry.intervals["textvqa"]
    assert low < 50.0 < high


def test_plot_without_inputs_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert mg_eval_main(["plot", "--no-reference", "--output", str(tmp_path)]) == 2
    assert "nothing to plot" in capsys.readouterr().err
    assert mg_eval_main(["plot", str(tmp_path / "none"), "--output", str(tmp_path)]) == 2
    assert "no runs" in capsys.readouterr().err


def test_ablation_rows_with_the_same_label_are_told_apart(tmp_path: Path) -> None:
    spec = Path(__file__).resolve().parent.parent / "ablations" / "info_mining.yaml"
    assert mg_eval_main(["ablate", str(spec), "--render-only", "--output", str(tmp_path), "--resamples", "10"]) == 0
    metrics, rows = plots.load_ablation_csv(tmp_path / "info_mining.csv")
    assert metrics == ["textvqa", "mme", "mmvet"]
    labels = [row.label for row in rows]
    assert len(set(labels)) == len(labels)
    assert "+ Larger VE-HR (ConvX-XXL)" in labels
    assert rows[-1].paper_delta["mmvet"] == pytest.approx(-0.8) and rows[-1].delta["mmvet"] is None  # pending


def test_plot_ablation_works_outside_the_repository_root(tmp_path: Path, monkeypatch, capsys) -> None:
    """The default --reference is the paper's table shipped inside the package, not a cwd-relative path."""
    spec = Path(__file__).resolve().parent.parent / "ablations" / "info_mining.yaml"
    assert mg_eval_main(["ablate", str(spec), "--render-only", "--output", str(tmp_path / "abl"),
                         "--resamples", "10"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert mg_eval_main(["plot", "--ablation", str(tmp_path / "abl" / "info_mining.csv"), "--output", "figs",
                         "--dpi", str(DPI)]) == 0
    assert (elsewhere / "figs" / "info_mining_deltas.png").is_file()
    assert mg_eval_main(["plot", "--output", "board", "--dpi", str(DPI)]) == 0  # the paper's rows alone
    assert (elsewhere / "board" / "leaderboard_heatmap.png").is_file()
