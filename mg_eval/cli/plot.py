"""Leaderboard and ablation figures from any set of runs plus the paper's numbers (PNG + SVG).

Examples:
  mg-eval plot results/                                   # our runs vs the paper's 7B/13B rows
  mg-eval plot results/ --reference-rows all              # every row of the paper's Table 1
  mg-eval plot results/ --zoo-rows all                    # every LLaVA Model Zoo row as markers
  mg-eval plot --ablation results/ablations/info_mining/info_mining.csv
  mg-eval plot results/MGM-7B results/MGM-7B-HD --output figures/ --title "MGM-7B reproduction"
  mg-eval plot results/ --curve --curve-reference MGM-7B       # score against training step, released model as a line

Writes to OUTPUT (default figures/): leaderboard_bars (grouped bars, MME on its own axis; the LLaVA Model Zoo
rows as open markers on the columns mg_eval/analysis/reference/llava_model_zoo_mapping.csv ties to ours),
leaderboard_heatmap (every model x benchmark, normalised per benchmark) and, per --ablation table,
<table>_deltas (Δ with 95 % CIs beside the paper's Δ). With --curve instead: training_curves (score against
training step per task for every evaluated training checkpoint, bootstrap 95 % CI band, references as lines).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mg_eval.cli.shared_flags import (
    DEFAULT_REFERENCE,
    add_bootstrap_arguments,
    add_output_argument,
    add_reference_argument,
    check_bootstrap_options,
)
from mg_eval.errors import UserInputError

__all__ = ["DEFAULT_REFERENCE", "add_arguments", "run"]



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `mg-eval plot`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("results", nargs="*", help="folders holding runs written by `mg-eval run` (searched recursively)")
    add_reference_argument(parser, default=str(DEFAULT_REFERENCE))
    parser.add_argument("--no-reference", action="store_true", help="plot our runs only (no paper, no zoo rows)")
    parser.add_argument("--reference-rows", nargs="+", default=None, metavar="LABEL",
                        help='paper rows for the bar chart, e.g. "Mini-Gemini (Vicuna-7B)"; "all" for every row '
                             "(default: LLaVA-1.5 / LLaVA-NeXT / Mini-Gemini / -HD at 7B and 13B); the heat map "
                             "always shows every row")
    parser.add_argument("--zoo-rows", nargs="+", default=None, metavar="LABEL",
                        help='LLaVA Model Zoo rows drawn as markers in the bar chart, e.g. "LLaVA-1.5-7B (LLaVA '
                             'Model Zoo)"; "all" for every row (default: LLaVA-1.5 7B/13B and LLaVA-1.6 Vicuna '
                             "7B/13B); the heat map always shows every row")
    parser.add_argument("--no-zoo", action="store_true", help="leave the LLaVA Model Zoo rows out")
    parser.add_argument("--ablation", action="append", default=[], metavar="TABLE_CSV",
                        help="an ablation table written by `mg-eval ablate` (repeatable)")
    add_output_argument(parser, what="folder the figures are written to", default="figures")
    parser.add_argument("--title", default=None, help="figure title")
    add_bootstrap_arguments(parser, resamples=1000, what="bootstrap resamples for our error bars")
    parser.add_argument("--dpi", type=int, default=None, help="PNG resolution (default 300)")
    curve = parser.add_argument_group("training curves (runs written by `mg-eval run` on checkpoints / `mg-eval watch`)")
    curve.add_argument("--curve", action="store_true",
                       help="draw score against training step per task (training_curves.png/.svg) instead")
    curve.add_argument("--curve-run", action="append", default=[], metavar="RUN",
                       help="only this training run (its folder name or config hash prefix; repeatable)")
    curve.add_argument("--curve-reference", action="append", default=[], metavar="MODEL",
                       help="a model in the results (e.g. the released MGM-7B, or stage2-step1000) drawn as a "
                            "horizontal line per task (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Draw every figure the inputs allow and print the written paths."""
    from mg_eval.analysis import plots, zoo  # matplotlib: only when plotting

    check_bootstrap_options(args.resamples, args.seed)
    if args.dpi is not None and args.dpi < 1:
        raise UserInputError(f"--dpi must be >= 1 (PNG dots per inch, e.g. 300), got {args.dpi}")
    dpi = args.dpi or plots.DEFAULT_DPI
    if args.curve:
        return run_curves(args, dpi)
    if not args.results and not args.ablation and args.no_reference:
        raise UserInputError("nothing to plot: give results folders, --ablation tables, or drop --no-reference")
    output = Path(args.output)
    try:  # before any run is read: an output that cannot be made is named now
        output.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserInputError(f"--output {output} cannot be created ({err.strerror or err}); pass a folder you can "
                             "write to") from None
    ours = plots.collect_results(args.results, args.resamples, args.seed) if args.results else []
    reference = [] if args.no_reference else plots.load_reference(args.reference)
    zoo_rows = [] if args.no_reference or args.no_zoo else zoo.load_zoo()
    written: list[Path] = []
    if ours or (reference and not args.ablation):  # --ablation alone draws only the ablation figures
        bars = ours + (plots.select_reference(reference, args.reference_rows) if reference else [])
        bars += plots.select_reference(zoo_rows, args.zoo_rows, zoo.DEFAULT_ZOO_ROWS) if zoo_rows else []
        written += plots.plot_leaderboard_bars(bars, output / "leaderboard_bars", args.title, dpi)
        written += plots.plot_leaderboard_heatmap(ours + reference + zoo_rows, output / "leaderboard_heatmap",
                                                   args.title, dpi)
    for table in args.ablation:
        metrics, rows = plots.load_ablation_csv(table)
        written += plots.plot_ablation_deltas(metrics, rows, output / f"{Path(table).stem}_deltas", args.title,
                                             dpi)
    for path in written:
        print(path)
    return 0


def run_curves(args: argparse.Namespace, dpi: int) -> int:
    """``--curve``: the training-curve figure of every training checkpoint under the results folders."""
    from mg_eval.analysis import curves
    from mg_eval.report.collect import load_run_views

    if not args.results:
        raise UserInputError("--curve needs the results folder(s) the checkpoints were evaluated into, e.g. "
                             "mg-eval plot results/ --curve")
    views = [view for root in args.results for view in load_run_views(root, args.resamples, args.seed)]
    points = curves.curve_points(views, args.curve_run)
    if args.curve_run and not points:
        raise UserInputError(f"--curve-run {', '.join(args.curve_run)} matches no evaluated training run under "
                             f"{', '.join(args.results)}")
    references = curves.reference_lines(views, args.curve_reference)
    for path in curves.plot_curves(points, Path(args.output) / "training_curves", references, args.title, dpi):
        print(path)
    return 0
