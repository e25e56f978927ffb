"""Evaluate one or more checkpoints on benchmark tasks (batched, resumable, data-parallel under torchrun).

Examples::

    mg-eval run --model /ckpt/MGM-7B --tasks mgm_paper
    mg-eval run --model /ckpt/A --model /ckpt/B --tasks textvqa_val,mme --batch-size 16 --limit 50
    mg-eval run --backend hf-vlm --model /models/llava-1.5-7b-hf --tasks mgm_paper --sample-data
    mg-eval run --backend openai --model Qwen/Qwen2-VL-7B-Instruct --base-url http://localhost:8000/v1 --tasks mgm_paper
    torchrun --nproc-per-node 8 -m mg_eval.cli.main run --model /ckpt/MGM-34B --tasks mgm_paper

Every prediction is on disk (fsync'd) the moment it is made; rerunning the same command resumes.
Results go to OUTPUT/<model>/<task>/<run>/results.json + samples.jsonl (schema: results/SCHEMA.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from mg_eval.api import DEFAULT_BACKEND, PROTOCOLS
from mg_eval.cli.judge_options import add_judge_arguments, judge_for_task
from mg_eval.cli.run_options import run_options_from_args
from mg_eval.cli.shared_flags import RESULTS_ROOT, add_output_argument
from mg_eval.engine.feed import default_num_workers
from mg_eval.errors import UserInputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mg-eval run``."""
    parser.add_argument("--model", action="append", required=True, metavar="PATH",
                        help="local checkpoint directory (repeat for several models; each is built once; what it "
                             "holds depends on --backend), a training "
                             "output folder or a quoted glob such as 'runs/stage2/checkpoint-*' (every complete "
                             "checkpoint, by step, recorded with its step and training run)")
    parser.add_argument("--base", default=None, metavar="PATH",
                        help="the MGM checkpoint a projector-only (stage-1, mm_projector.bin) checkpoint is "
                             "evaluated on")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, metavar="NAME",
                        help="what builds and runs the model: mgm (default: Mini-Gemini checkpoints, the reference), "
                             "hf-vlm (any transformers image-text-to-text model), openai (any OpenAI-compatible chat endpoint: "
                             "--model NAME --base-url URL), or another installed backend "
                             "(entry-point group mg_eval.backends); other backends' results go to <model>+<backend>/")
    parser.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a backend-specific setting (VALUE read as JSON when it parses, else a string); "
                             "recorded in results and in every prediction's fingerprint")
    parser.add_argument("--base-url", default=None, metavar="URL",
                        help="endpoint backends (--backend openai): the OpenAI-compatible API root, e.g. "
                             "http://localhost:8000/v1 (vllm serve) or https://api.openai.com/v1")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="endpoint backends: the environment variable holding the API key (default "
                             "OPENAI_API_KEY; the key itself is never recorded)")
    parser.add_argument("--tasks", action="append", required=True, metavar="LIST",
                        help="task or group names, comma separated (e.g. mgm_paper; `mg-eval tasks` lists them)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None,
                        help="prompts/decoding of the MGM paper's scripts (mgm) or each benchmark's generic prompt as "
                             "lmms-eval gives it (lmms); default: the backend's (mgm for mgm, lmms for chat-model "
                             "backends: hf-vlm, openai)")
    parser.add_argument("--batch-size", type=int, default=8, help="samples per generate call (default 8)")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N samples per task; such runs are marked for_reporting=false")
    add_output_argument(parser, what="results root", default=RESULTS_ROOT)
    parser.add_argument("--data-path", action="append", default=[], metavar="[TASK=]PATH",
                        help="local data of a task (TASK=PATH; a bare PATH applies to a single task)")
    parser.add_argument("--sample-data", action="store_true",
                        help="use each task's bundled sample data instead of the full benchmark data")
    parser.add_argument("--num-workers", type=int, default=default_num_workers(),
                        help="DataLoader worker processes decoding and preprocessing images "
                             "(default: CPU cores - 1, at most 8)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                        help="model dtype (auto: float16 on GPU as the official scripts, float32 on CPU)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default auto)")
    parser.add_argument("--device-map", default=None,
                        help="e.g. auto: spread a model too big for one GPU over this rank's GPUs")
    parser.add_argument("--encoder-root", default=None, metavar="DIR",
                        help="folder holding the vision encoders the checkpoint names (model_zoo/OpenAI/...)")
    parser.add_argument("--max-new-tokens-cap", type=int, default=None,
                        help="cap every task's max_new_tokens (recorded in results; for quick looks)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op CPU threads of the main process (default: torch's choice)")
    parser.add_argument("--fresh", action="store_true", help="discard stored predictions and start over")
    fast = parser.add_argument_group("fast decoding (defaults = the official numerics; see docs/performance.md)")
    fast.add_argument("--attn", choices=("eager", "sdpa"), default="eager",
                      help="LLM attention: eager (default, what the official pin ran) or sdpa (faster on GPU; "
                           "may flip rare near-ties)")
    fast.add_argument("--compile", action="store_true",
                      help="static KV cache + torch.compile of the decode step (CUDA graphs on GPU)")
    fast.add_argument("--continuous", action="store_true",
                      help="continuous batching for greedy tasks: finished rows are refilled with new samples")
    fast.add_argument("--no-share", action="store_true",
                      help="plain path: no vision-feature cache, no shared-prefix / beam prefill "
                           "(sharing gives the same tokens; recorded in results.json run_config.share)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    judge = parser.add_argument_group("judge (for the benchmarks whose benchmark.yaml declares a judge role)")
    add_judge_arguments(judge, default="none",
                        judge_help="Judge for the judge steps; default none: those samples are reported as ungraded.")


def split_list(values: Sequence[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_data_paths(values: Sequence[str], task_names: Sequence[str]) -> dict[str, str]:
    """``TASK=PATH`` items (or one bare PATH when a single task runs) -> ``{task: path}``."""
    paths: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            if len(task_names) != 1:
                raise UserInputError(f"--data-path {value!r}: with several tasks write TASK=PATH "
                                     f"(tasks: {', '.join(task_names)})")
            name, path = task_names[0], value
        if name not in task_names:
            raise UserInputError(f"--data-path {value!r}: task {name!r} is not among the tasks of this run "
                                 f"({', '.join(task_names)})")
        paths[name] = path
    return paths


def parse_backend_options(values: Sequence[str]) -> dict[str, Any]:
    """``["tensor_parallel_size=2", "mode=fast"]`` -> ``{"tensor_parallel_size": 2, "mode": "fast"}``."""
    options: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--backend-option {value!r}: write KEY=VALUE, e.g. --backend-option max_model_len=4096")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


#: options spelled as their own flags for the backends that talk to an endpoint: flag -> backend option key
ENDPOINT_FLAGS = {"--base-url": "base_url", "--api-key-env": "api_key_env"}


def backend_settings(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """``(protocol, backend options)``: ``--protocol`` or the backend's default, and ``--backend-option`` items
    plus the endpoint flags (refused, naming the flag, by a backend that takes no endpoint)."""
    from mg_eval.backends import load_backend

    backend = load_backend(args.backend)
    options = parse_backend_options(args.backend_option)
    for flag, key in ENDPOINT_FLAGS.items():
        value = getattr(args, key)
        if value is not None:
            if key not in backend.capabilities.options:
                raise UserInputError(f"{flag} is not an option of backend {backend.name!r}: it names an endpoint for "
                                     "a backend that talks to one (e.g. --backend openai); drop it")
            options[key] = value
    return args.protocol or backend.default_protocol, options


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; prints one line per finished (model, task) run."""
    from mg_eval.engine import evaluate
    from mg_eval.engine.runner import resolve_task_objects

    tasks = resolve_task_objects(split_list(args.tasks))
    names = [task.name for task in tasks]
    data_paths = parse_data_paths(args.data_path, names)
    if args.sample_data:
        for task in tasks:
            if getattr(task, "sample_path", None) is None:
                raise UserInputError(f"task {task.name} ships no sample data; drop --sample-data or that task")
            data_paths.setdefault(task.name, str(task.sample_path))
    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be >= 1 (torch CPU threads), got {args.threads}; omit it for torch's choice")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if not 0.0 <= args.max_ungraded <= 1.0:
        raise UserInputError(f"--max-ungraded {args.max_ungraded} is outside [0, 1]; e.g. 0 or 0.05")
    protocol, backend_options = backend_settings(args)
    judge = judge_for_task(args)
    if judge is not None:  # build every judge now: a missing key or a bad path fails before inference
        for task in tasks:
            judge(task)
    models = training_models(args.model, args.base, args.output, args.backend)
    options = run_options_from_args(args, protocol=protocol, judge=judge, data_paths=data_paths,
                                    backend_options=backend_options)
    outcomes = evaluate(models, tasks, options=options)
    for outcome in outcomes:
        if outcome.results is None:
            continue
        primary = outcome.results["primary_metric"]
        value = outcome.results["scores"].get(primary)
        reasons = outcome.results.get("not_for_reporting") or []
        note = f"  (not for reporting: {'; '.join(reasons)})" if not outcome.results["for_reporting"] else ""
        print(f"{outcome.model_name} / {outcome.task_name}: {primary} = {value} "
              f"[{outcome.n_computed} computed, {outcome.n_resumed} resumed] -> {outcome.run_dir}{note}")
        print_run_warnings(outcome)
    check_ungraded_outcomes(outcomes, args.max_ungraded)
    return 0


def training_models(values: Sequence[str], base: str | None, output: str, backend: str) -> list[Any]:
    """``--model`` values with globs and training runs expanded to their complete checkpoints
    (``mg_eval.engine.checkpoints``); incomplete ones are named on stderr. A folder that is neither a checkpoint
    nor a training output is refused here for the default backend; another backend's ``check_model`` judges
    its own models (an endpoint's model name is no folder)."""
    import sys
    from pathlib import Path

    from mg_eval.engine.checkpoints import check_results_identity, expand_models

    models = expand_models(list(values), base, warn=lambda text: print(f"warning: {text}", file=sys.stderr),
                           strict=backend == DEFAULT_BACKEND)
    check_results_identity(Path(output), models)
    return models


def print_run_warnings(outcome: Any) -> None:
    """Warning lines (stderr) for what the results record but a reader could miss: inputs cut at the
    model's context, predictions made under several batch sizes (resumed after a --batch-size change)."""
    import sys

    record = outcome.results
    truncated = record["n_samples"].get("truncated")
    if truncated:
        print(f"warning: {outcome.task_name}: {truncated} of {record['n_samples']['total']} inputs were longer than "
              f"the model's context ({record['run_config'].get('context_length')} tokens) and were cut at the end "
              "(as the official code does); counted in results.json n_samples.truncated", file=sys.stderr)
    sizes = (record["run_config"].get("predictions_made_with") or {}).get("batch_size") or {}
    if len(sizes) > 1:
        print(f"warning: {outcome.task_name}: predictions were made at several batch sizes "
              f"({', '.join(f'{size}: {count}' for size, count in sizes.items())}; resumed after a --batch-size "
              "change); recorded in results.json run_config.predictions_made_with, rerun with --fresh for one",
              file=sys.stderr)


def check_ungraded_outcomes(outcomes: Sequence[Any], max_ungraded: float) -> None:
    """Raise ``TooManyUngradedError`` (a ``UserInputError``) for the first task above the threshold."""
    from mg_eval.judges.stats import check_ungraded

    for outcome in outcomes:
        if outcome.results is None:
            continue
        scores = outcome.results["scores"]
        total = scores.get("n_questions") or outcome.results["n_samples"]["total"]
        check_ungraded(scores.get("n_ungraded") or 0, total, max_ungraded, task=outcome.task_name,
                       judge_name=outcome.results.get("judge"))
