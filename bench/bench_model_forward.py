"""Forward-cost breakdown of Mini-Gemini: FLOPs (FlopCounterMode) and measured CPU time, printed as tables.

Components: LR encoder (CLIP ViT-L/14-336), HR encoder (ConvNeXt-L at 768 / 1536), patch info mining,
projector, LLM prefill and decode per token. Encoders have their real sizes (random weights); the LLM is
a small LLaMA (hidden 1024, 4 layers) for the end-to-end breakdown, and a 7B-shaped LLaMA (Vicuna-7B
sizes; one real decoder layer timed, x32) for the target ratio of issue #2:

    (HR encoder + mining) / (7B prefill at 576 visual tokens + text) <= 15 %

Mining "off" = the same model without HR encoder and mining, at the same token count (576 / 2880).
FLOPs are counted on the meta device (no memory); attention matmuls are counted in full (eager).
CPU times are the median of ``--repeats`` runs, batch 1, float32. HD (1536) timings need ~8 GB and
are opt-in (``--time-hd``); HD FLOPs are always reported.

    python3 bench/bench_model_forward.py --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaModel

from mg_model.mining import extend_and_mine, split_lr_views
from mg_model.modeling_mgm import MGMForCausalLM
from mg_model.variants import variant_config

SMALL_LLM = {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 4, "num_attention_heads": 16,
             "num_key_value_heads": 16, "vocab_size": 32000}
VICUNA_7B_LAYERS = 32
TEXT_TOKENS = 109  # prompt text around the image (the FLOP model of docs/roofline.md#benchmark-workload uses T≈685)
COMPONENTS = ("LR encoder", "HR encoder", "mining", "projector", "LLM prefill", "decode / token")


@dataclass
class Row:
    """One component: GFLOPs (meta-device count) and CPU seconds (None when not timed)."""

    name: str
    gflop: float
    seconds: float | None = None


def count_gflop(fn: Callable[[], object]) -> float:
    """GFLOPs of one call of ``fn`` (FlopCounterMode, 2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_model(hd: bool, device: str) -> MGMForCausalLM:
    """Real-size CLIP-L + ConvNeXt-L, small LLaMA, eager attention (counted FLOPs), eval mode."""
    config = variant_config("mgm-7b-hd" if hd else "mgm-7b", **SMALL_LLM)
    config._attn_implementation = "eager"
    with torch.device(device):
        model = MGMForCausalLM(config)
    return model.eval()


def component_calls(model: MGMForCausalLM, hd: bool, device: str) -> dict[str, Callable[[], object]]:
    """Closures running each component on inputs of the right shape (batch 1)."""
    config = model.config
    grid, use_global = int(config.image_grid), bool(config.image_global)
    side = int(config.image_size_aux)
    images = torch.randn(1, 5, 3, 336, 336, device=device) if hd else torch.randn(1, 3, 336, 336, device=device)
    images_aux = torch.randn(1, 3, side, side, device=device)
    lr_views = split_lr_views(images, grid, use_global)
    lr_features = model.model.vision_tower(lr_views)
    hr_map = model.model.vision_tower_aux(images_aux)
    tokens = extend_and_mine(lr_features, hr_map, 1, grid, use_global, model.mining_projectors())
    visual = model.model.mm_projector(tokens)
    text = model.model.embed_tokens(torch.ones(1, TEXT_TOKENS, dtype=torch.long, device=device))
    embeds = torch.cat([visual, text], dim=1)

    def prefill() -> object:
        return model(inputs_embeds=embeds, use_cache=True, logits_to_keep=1)

    cache = prefill().past_key_values
    next_embed = model.model.embed_tokens(torch.ones(1, 1, dtype=torch.long, device=device))

    def decode() -> object:
        extra = cache.get_seq_length() - embeds.shape[1]
        if extra > 0:  # always one new token on top of the prompt
            cache.crop(-extra)
        return model(inputs_embeds=next_embed, past_key_values=cache, use_cache=True, logits_to_keep=1)

    return {
        "LR encoder": lambda: model.model.vision_tower(lr_views),
        "HR encoder": lambda: model.model.vision_tower_aux(images_aux),
        "mining": lambda: extend_and_mine(lr_features, hr_map, 1, grid, use_global, model.mining_projectors()),
        "projector": lambda: model.model.mm_projector(tokens),
        "LLM prefill": prefill,
        "decode / token": decode,
    }


def breakdown(hd: bool, time_it: bool, repeats: int) -> list[Row]:
    """FLOPs (meta) and, when ``time_it``, CPU seconds of every component."""
    with torch.no_grad():
        meta_calls = component_calls(build_model(hd, "meta"), hd, "meta")
        rows = [Row(name, count_gflop(meta_calls[name])) for name in COMPONENTS]
        if time_it:
            model = build_model(hd, "cpu")
            calls = component_calls(model, hd, "cpu")
            for row in rows:
                row.seconds = median_seconds(calls[row.name], repeats)
            del model, calls
            gc.collect()
    return rows


def vicuna_7b_prefill(tokens: int, time_it: bool, repeats: int) -> Row:
    """7B-shaped prefill: one Vicuna-7B decoder layer (+ final norm) x 32, plus lm_head on the last token."""
    config = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=1, num_attention_heads=32,
                         num_key_value_heads=32, vocab_size=8, rms_norm_eps=1e-5)
    config._attn_implementation = "eager"

    def run(device: str) -> tuple[Callable[[], object], Callable[[], object]]:
        with torch.device(device):
            layer_model = LlamaModel(config).eval()
            lm_head = torch.nn.Linear(4096, 32000, bias=False)
        embeds = torch.randn(1, tokens, 4096, device=device)
        return (lambda: layer_model(inputs_embeds=embeds)), (lambda: lm_head(embeds[:, -1:]))

    with torch.no_grad():
        layer_call, head_call = run("meta")
        gflop = VICUNA_7B_LAYERS * count_gflop(layer_call) + count_gflop(head_call)
        seconds = None
        if time_it:
            layer_call, head_call = run("cpu")
            seconds = VICUNA_7B_LAYERS * median_seconds(layer_call, repeats) + median_seconds(head_call, repeats)
            del layer_call, head_call
            gc.collect()
    return Row(f"7B prefill ({tokens} tok)", gflop, seconds)


def format_table(title: str, rows: list[Row]) -> str:
    """A fixed-width table: component, GFLOP, CPU ms, share of the forward (prefill) cost."""
    forward = [r for r in rows if r.name != "decode / token"]
    total_flop = sum(r.gflop for r in forward)
    total_time = sum(r.seconds for r in forward) if all(r.seconds is not None for r in forward) else None
    lines = [title, f"{'component':<26}{'GFLOP':>10}{'CPU ms':>12}{'% FLOP':>9}{'% time':>9}"]
    for row in rows:
        share_time = f"{100 * row.seconds / total_time:8.1f}%" if total_time and row.seconds is not None else " " * 9
        ms = f"{1000 * row.seconds:12.1f}" if row.seconds is not None else f"{'-':>12}"
        share = f"{100 * row.gflop / total_flop:8.1f}%" if row in forward else " " * 9
        lines.append(f"{row.name:<26}{row.gflop:10.1f}{ms}{share}{share_time if row in forward else ''}")
    total_ms = f"{1000 * total_time:12.1f}" if total_time is not None else f"{'-':>12}"
    lines.append(f"{'forward (no decode)':<26}{total_flop:10.1f}{total_ms}")
    return "\n".join(lines)


def ratio_lines(label: str, rows: list[Row], prefill_7b: Row) -> list[str]:
    """(HR + mining) against the 7B prefill and against the mining-off model at equal token count."""
    by_name = {r.name: r for r in rows}
    extra = [by_name["HR encoder"], by_name["mining"]]
    off = [by_name["LR encoder"], by_name["projector"], prefill_7b]
    lines = [f"{label}: (HR encoder + mining) / 7B prefill = "
             f"{100 * sum(r.gflop for r in extra) / prefill_7b.gflop:.1f} % FLOP"]
    lines.append(f"{label}: mining-on / mining-off forward with a 7B LLM (equal tokens) = "
                 f"+{100 * sum(r.gflop for r in extra) / sum(r.gflop for r in off):.1f} % FLOP")
    if all(r.seconds is not None for r in extra + off):
        extra_s, off_s = sum(r.seconds for r in extra), sum(r.seconds for r in off)
        lines[0] += f", {100 * extra_s / prefill_7b.seconds:.1f} % CPU time"
        lines[1] += f", +{100 * extra_s / off_s:.1f} % CPU time"
    return lines


def main() -> None:
    """Parse options, run the breakdowns, print the tables and the target ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per component (median)")
    parser.add_argument("--no-time", action="store_true", help="FLOPs only (no CPU timing)")
    parser.add_argument("--time-hd", action="store_true", help="also time the 1536 HD model (~8 GB RAM)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    time_lr = not args.no_time
    lr_rows = breakdown(hd=False, time_it=time_lr, repeats=args.repeats)
    print(format_table("MGM LR (CLIP 336, ConvNeXt-L 768, 576 visual tokens), small LLaMA 1024x4", lr_rows))
    hd_rows = breakdown(hd=True, time_it=time_lr and args.time_hd, repeats=args.repeats)
    print()
    print(format_table("MGM HD (5x CLIP 336, ConvNeXt-L 1536, 2880 visual tokens), small LLaMA 1024x4", hd_rows))
    prefill_lr = vicuna_7b_prefill(576 + TEXT_TOKENS, time_lr, args.repeats)
    prefill_hd = vicuna_7b_prefill(2880 + TEXT_TOKENS, False, args.repeats)
    print()
    for row in (prefill_lr, prefill_hd):
        ms = f"{1000 * row.seconds:.0f} ms" if row.seconds is not None else "not timed"
        print(f"{row.name}: {row.gflop:.0f} GFLOP, CPU {ms} (1 layer timed x {VICUNA_7B_LAYERS} + lm_head)")
    print()
    for line in ratio_lines("LR 576 tok", lr_rows, prefill_lr) + ratio_lines("HD 2880 tok", hd_rows, prefill_hd):
        print(line)
    print(f"target: (HR + mining) <= 15 % of the 7B prefill at 576 tokens; threads={args.threads}, "
          f"repeats={args.repeats}, float32, batch 1")


if __name__ == "__main__":
    main()
