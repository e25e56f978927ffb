"""Regenerate the result section of results/cpu_claim/README.md from what `make cpu-claim` wrote.

Reads the ablation table and seed summary (``results/cpu_claim/ablation/cpu_info_mining{.md,.seeds.md}``),
the shared base's ``base_report.json`` (pretext probes and the LLM warm start) and every row's
``ablation_row.json`` (per-stage learning curves), draws the learning curves
(``results/cpu_claim/learning_curves.png``) and replaces the text between the README's
``<!-- generated:begin -->`` and ``<!-- generated:end -->`` markers. Nothing outside the markers changes.

Usage: ``python3 scripts/cpu_claim/write_readme.py [--results DIR] [--checkpoints DIR] [--readme FILE]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mg_eval.ablation.train import LOSS_CURVE_WINDOW

BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"
STAGE_TITLES = {"pretrain": "stage 1: alignment (LLM frozen)", "finetune": "stage 2: instruction tuning"}
SPEC = "cpu_info_mining"
CURVE_KEY = f"loss_per_{LOSS_CURVE_WINDOW}_steps"  # the learning curve in ablation_row.json (one point per window)


def base_report(checkpoints: Path) -> dict | None:
    """The newest pretrained base's report under the spec's work folder (None when there is none)."""
    reports = sorted((checkpoints / f"_{SPEC}_work").glob("*-pretrained-*/base_report.json"),
                     key=lambda p: p.stat().st_mtime)
    return json.loads(reports[-1].read_text()) if reports else None


def row_logs(checkpoints: Path) -> dict[str, dict]:
    """``{row id: ablation_row.json}`` of every built row (``<arm>/seed<s>``)."""
    return {log["row"]: log for log in (json.loads(p.read_text())
                                        for p in sorted((checkpoints / SPEC).glob("*/seed*/ablation_row.json")))}


def probe_section(report: dict) -> str:
    """What the pretrained base can read before any MGM training."""
    enc, llm = report["encoders"], report["llm"]
    lr, hr = enc["lr_clip"], enc["hr_convnext"]
    return "\n".join([
        "| Pretrained part (shared by every row and seed) | Steps | Seconds | Held-out probe |",
        "|---|---|---|---|",
        f"| LR CLIP on LR views (56 px) | {lr['steps']} | {lr['seconds']:.0f} | digit {100 * lr['probe']['digit']:.1f} %, "
        f"cell kind {100 * lr['probe']['kind']:.1f} % |",
        f"| HR ConvNeXt on HR views (128 px), mean of a cell's candidates | {hr['steps']} | {hr['seconds']:.0f} | "
        f"digit {100 * hr['probe']['digit']:.1f} %, cell kind {100 * hr['probe']['kind']:.1f} % |",
        f"| LLM, text-only digit answering (cell words at the visual tokens' places) | {len(llm['losses'])} | "
        f"{llm['seconds']:.0f} | answer {100 * llm['probe']['answer_before']:.1f} % before, "
        f"{100 * llm['probe']['answer']:.1f} % after |",
        "", f"Base pretraining in all: {enc['seconds'] + llm['seconds']:.0f} s. Chance for a digit: 10 %.", ""])


def curve_section(logs: dict[str, dict]) -> str:
    """Mean training loss per 50 steps, per row and stage."""
    lines = ["| Row | Stage | Seconds | Loss per 50 steps |", "|---|---|---|---|"]
    for row_id, log in logs.items():
        for stage in log["stages"]:
            curve = stage[CURVE_KEY]
            lines.append(f"| {row_id} | {stage['stage']} | {stage['seconds']:.0f} | "
                         + " ".join(f"{x:.3f}" for x in curve) + " |")
    return "\n".join(lines) + "\n"


def draw_curves(logs: dict[str, dict], path: Path) -> None:
    """One panel per stage, a line per row (mean loss per 50 steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(stage["stage"] for log in logs.values() for stage in log["stages"]))
    figure, axes = plt.subplots(1, len(stages), figsize=(5 * len(stages), 3.6), squeeze=False)
    colours = {"no_mining": "tab:grey", "mining": "tab:blue", "token_extension": "tab:orange"}
    for axis, name in zip(axes[0], stages):
        for row_id, log in logs.items():
            for stage in log["stages"]:
                if stage["stage"] != name:
                    continue
                arm, seed = row_id.rsplit("_seed", 1)[0], log["seed"]
                curve = stage[CURVE_KEY]
                axis.plot([LOSS_CURVE_WINDOW * (i + 1) for i in range(len(curve))], curve, label=row_id,
                          color=colours.get(arm), alpha=0.9, linestyle=("-", "--", ":")[seed % 3])
        axis.set_title(STAGE_TITLES.get(name, name))
        axis.set_xlabel("step")
        axis.set_ylabel("training loss (nats / supervised token)")
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _without_title(markdown: str) -> str:
    """The table markdown without its own ``###`` title line (the README section has one)."""
    return "\n".join(line for line in markdown.strip().splitlines() if not line.startswith("### ")).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/cpu_claim/ablation")
    parser.add_argument("--checkpoints", default="checkpoints/ablations")
    parser.add_argument("--readme", default="results/cpu_claim/README.md")
    args = parser.parse_args(argv)
    results, checkpoints, readme = Path(args.results), Path(args.checkpoints), Path(args.readme)
    for name in (f"{SPEC}.md", f"{SPEC}.seeds.md"):
        if not (results / name).is_file():
            print(f"error: {results / name} not found; run `make cpu-claim` first", file=sys.stderr)
            return 2
    report = base_report(checkpoints)
    if report is None:
        print(f"error: no pretrained base report under {checkpoints}/_{SPEC}_work; run `make cpu-claim` first",
              file=sys.stderr)
        return 2
    logs = row_logs(checkpoints)
    figure = readme.parent / "learning_curves.png"
    draw_curves(logs, figure)
    block = "\n".join([
        BEGIN, "", "### Per seed (TextVQA accuracy on 300 test questions; 95 % bootstrap CI; Δ paired bootstrap)", "",
        _without_title((results / f"{SPEC}.md").read_text()), "",
        "### Over seeds, and the pre-registered criterion", "", (results / f"{SPEC}.seeds.md").read_text().strip(), "",
        "### What the pretrained base reads (probes on held-out pretext images)", "", probe_section(report),
        "### Learning curves", "", f"![learning curves]({figure.name})", "", curve_section(logs), END])
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"error: {readme} lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 2
    head, rest = text.split(BEGIN, 1)
    readme.write_text(head + block + rest.split(END, 1)[1], encoding="utf-8")
    print(f"written: {readme}, {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
