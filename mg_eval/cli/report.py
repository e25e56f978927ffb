"""Write a static results site (leaderboard, run pages, sample browser, checkpoint compare) for a results folder.

Examples:
  mg-eval report results/ --output site/                      # open site/index.html in a browser
  mg-eval report runs/ --compare MGM-7B MGM-7B-HD --output site/
  mg-eval report runs/demo --output site/ --no-images

The site is static and self-contained: no server, no CDN; copy the folder anywhere and open index.html.
Pages: index.html (our runs beside the paper's Table 1, with CIs, protocol, judge; † = not for reporting),
run-<run>.html (scores, sub-score figures, provenance), samples.html (every sample: thumbnail, prompt, raw
response, extracted answer, target, score, verdict; filters and search), compare.html (--compare A B: flipped
samples side by side and the paired significance of each Δ).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mg_eval.cli.shared_flags import (
    DEFAULT_REFERENCE,
    add_bootstrap_arguments,
    add_output_argument,
    add_reference_argument,
    check_bootstrap_options,
)
from mg_eval.errors import UserInputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `mg-eval report`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("root", help="results folder written by `mg-eval run` / `mg-eval demo` (searched recursively)")
    add_output_argument(parser, what="folder the site is written to", required=True)
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None,
                        help="two model names (results folder names) to diff: flipped samples and paired tests")
    add_reference_argument(parser, default=None)
    parser.add_argument("--no-reference", action="store_true", help="leave the paper's rows out")
    parser.add_argument("--no-images", action="store_true",
                        help="no thumbnails (skip loading each task's data to find the images)")
    parser.add_argument("--thumb-size", type=int, default=160, help="longest side of a thumbnail in pixels (default 160)")
    add_bootstrap_arguments(parser, resamples=1000, what="bootstrap resamples for CIs and tests")


def resolve_reference(args: argparse.Namespace) -> Path | None:
    """The reference CSV to use (None = no paper rows); an explicit path must exist."""
    if args.no_reference:
        return None
    if args.reference:
        path = Path(args.reference)
        if not path.is_file():
            raise UserInputError(f"--reference {path} does not exist; use {DEFAULT_REFERENCE} or --no-reference")
        return path
    if DEFAULT_REFERENCE.is_file():
        return DEFAULT_REFERENCE
    print(f"note: {DEFAULT_REFERENCE} not found; the leaderboard shows our runs only (give --reference)")
    return None


def run(args: argparse.Namespace) -> int:
    """Build the site and print where it is."""
    from mg_eval.report.builder import ReportOptions, build_report

    check_bootstrap_options(args.resamples, args.seed)
    if args.thumb_size < 16:
        raise UserInputError(f"--thumb-size must be >= 16 (pixels), got {args.thumb_size}")
    started = time.perf_counter()
    options = ReportOptions(reference=resolve_reference(args), compare=tuple(args.compare) if args.compare else None,
                            n_resamples=args.resamples, seed=args.seed, images=not args.no_images,
                            thumb_size=args.thumb_size)
    summary = build_report(args.root, args.output, options)
    for task, note in sorted(summary.notes.items()):
        print(f"note: {task}: {note}")
    print(f"wrote {len(summary.pages)} pages for {summary.n_runs} runs ({summary.n_samples} samples, "
          f"{summary.n_thumbnails} new thumbnails) in {time.perf_counter() - started:.1f} s")
    print(f"open {Path(args.output) / 'index.html'}")
    return 0
