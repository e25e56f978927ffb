"""``bench/gpu_suite.py --backend vllm``: the suite's workloads through vLLM's engine (mg_model.vllm).

Per mode (LR / HD) a checkpoint folder of the variant's real shapes is written without weights (config.json,
a tokenizer, the CLIP folder's config) and vLLM builds the model with random weights itself
(``load_format="dummy"``: no 14 GB of random shards to write). Each benchmark's synthetic workload
(``suite_workload``: its real prompt lengths, seeded noise images, forced answer lengths via ``min_tokens`` =
``max_tokens`` and ``ignore_eos``) goes to the engine at once; printed per benchmark: samples, tokens, seconds,
samples/s, tokens/s and the full benchmark's minutes at that rate. The GPU machine cannot install packages, so
:func:`vllm_available` is checked first and the suite says so and stops when its Python has no vLLM.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path
from typing import Any

from suite_workload import BENCHMARKS, SCAFFOLD_TOKENS, SyntheticTask, _rng


def vllm_available() -> str | None:
    """``None`` when this Python can import vLLM, else the line saying why the vllm suite cannot run."""
    if importlib.util.find_spec("vllm") is None:
        return ("vllm: not installed in this Python, so the vllm suite cannot run here (this machine cannot install "
                "packages); run the mgm suite (without --backend vllm), or a Python with vLLM "
                "(pip install 'mini-gemini-eval[vllm]')")
    return None


def weightless_checkpoint(folder: Path, variant: str) -> Path:
    """A checkpoint folder of ``variant``'s shapes with no real weights (vLLM's dummy loader fills them); tiny
    variants get head_dim 32 (vLLM's CPU attention refuses 16)."""
    import torch
    from safetensors.torch import save_file

    from mg_model.configuration_mgm import CLIP_L_336_VISION_CONFIG, MGM_DEFAULTS
    from mg_model.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TINY_TOKENIZER_DIR
    from mg_model.variants import TINY_HEAD_DIM_32, variant_values

    folder.mkdir(parents=True, exist_ok=True)
    values = {**MGM_DEFAULTS, **variant_values(variant), "architectures": ["MGMLlamaForCausalLM"]}
    if variant.startswith("tiny"):
        values.update(TINY_HEAD_DIM_32)
    vision = values.pop("mm_vision_config", None) or CLIP_L_336_VISION_CONFIG
    (folder / "config.json").write_text(json.dumps(values, indent=2))
    clip_dir = folder / values["mm_vision_tower"]  # the CLIP folder's configs: hyper-parameters, preprocessing
    clip_dir.mkdir(parents=True, exist_ok=True)
    (clip_dir / "config.json").write_text(json.dumps({"model_type": "clip", "vision_config": vision}))
    side = int(vision["image_size"])
    (clip_dir / "preprocessor_config.json").write_text(json.dumps(
        {"crop_size": {"height": side, "width": side}, "image_mean": list(OPENAI_CLIP_MEAN),
         "image_std": list(OPENAI_CLIP_STD), "rescale_factor": 1 / 255}))
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        shutil.copy2(TINY_TOKENIZER_DIR / name, folder / name)
    # the shard list must not be empty (mg_model.checkpoint.tensors.checkpoint_files); nothing reads it
    save_file({"unused": torch.zeros(1)}, str(folder / "model.safetensors"))
    return folder


def run_benchmarks(variant: str, mode: str, scale: float, gen_cap: int | None, print_line: Any,
                   tmp: Path) -> dict[str, float]:
    """The mode's benchmarks through one vLLM engine; returns {benchmark: seconds}."""
    from vllm import LLM, SamplingParams

    from mg_eval.models.vllm import engine_device, engine_environment

    name = variant + ("-hd" if mode == "HD" else "")
    checkpoint = weightless_checkpoint(tmp / name, name)
    started = time.perf_counter()
    with engine_environment(engine_device("auto"), None):  # CPU (--tiny): KV cache size, engine in-process
        llm = LLM(str(checkpoint), dtype="float32" if variant == "tiny" else "float16", load_format="dummy",
                  seed=0, limit_mm_per_prompt={"image": 1},
                  max_model_len=int(json.loads((checkpoint / "config.json").read_text())["max_position_embeddings"]))
    print_line(f"\n### vllm {name}: engine start-up {time.perf_counter() - started:.1f} s\n")
    print_line("| benchmark | samples | tokens | s | samples/s | tokens/s | full min |")
    print_line("|---|---|---|---|---|---|---|")
    from mg_model.vllm.processing import image_marker_ids

    marker = image_marker_ids(llm.get_tokenizer())
    vocab = int(json.loads((checkpoint / "config.json").read_text())["vocab_size"])
    seconds = {}
    for shape in BENCHMARKS:
        n = max(2, round(shape.n_full * scale))
        task = SyntheticTask(shape, n, gen_cap)
        requests, params = [], []
        for doc in task.docs:
            ids = _rng("ids", doc["doc_id"]).integers(3, min(vocab, 30000), size=SCAFFOLD_TOKENS + doc["q"] - 1)
            prompt = [1, *ids[:20].tolist(), *marker, *ids[20:].tolist()]
            requests.append({"prompt_token_ids": prompt,
                             "multi_modal_data": {"image": task.doc_to_visual(doc)[0]}})
            params.append(SamplingParams(temperature=0.0, max_tokens=doc["g"], min_tokens=doc["g"], ignore_eos=True))
        tokens = sum(doc["g"] for doc in task.docs)
        started = time.perf_counter()
        llm.generate(requests, params, use_tqdm=False)
        took = time.perf_counter() - started
        seconds[shape.name] = took
        print_line(f"| {shape.name} | {n} | {tokens} | {took:.1f} | {n / took:.2f} | {tokens / took:.0f} | "
                   f"{shape.n_full / (n / took) / 60:.1f} |")
    return seconds
