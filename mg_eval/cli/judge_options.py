"""The judge options shared by ``mg-eval run``, ``score`` and ``ablate`` (one definition, one builder).

Not a command: ``add_judge_arguments`` adds the options to a command's parser, ``judge_for_benchmark`` /
``judge_for_task`` turn the parsed options into judges through ``mg_eval.judges.factory.judge_per_benchmark``.
Judges are built only when asked for (``run`` builds them before inference, ``score`` only when a sample
needs one).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from mg_eval.errors import UserInputError
from mg_eval.judges.chat_client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

__all__ = ["add_judge_arguments", "judge_for_benchmark", "judge_for_task", "ungraded_hint"]

_SPECS = "none, paper (the paper's judge per benchmark), openai:<model>, azure:<deployment>, local:<path>"


def add_judge_arguments(parser: argparse.ArgumentParser | Any, *, default: str, judge_help: str,
                        max_ungraded: bool = True) -> None:
    """Add ``--judge`` and its options (base URL, key variable, cache, concurrency, timeout, retries)."""
    parser.add_argument("--judge", default=default, help=f"{judge_help} Specs: {_SPECS}.")
    parser.add_argument("--judge-base-url", default=None,
                        help="OpenAI-compatible API root (e.g. http://localhost:8000/v1 for a vLLM server)")
    parser.add_argument("--judge-api-key-env", default=None,
                        help="environment variable holding the judge API key (default OPENAI_API_KEY / AZURE_API_KEY)")
    parser.add_argument("--judge-cache-dir", default=None,
                        help="judge completion cache (default ~/.cache/mg_eval/judges)")
    parser.add_argument("--judge-concurrency", type=int, default=8, help="parallel judge requests (default 8)")
    parser.add_argument("--judge-timeout", type=float, default=None, metavar="SECONDS",
                        help=f"seconds per judge HTTP attempt (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--judge-retries", type=int, default=None, metavar="N",
                        help=f"retries of a judge request after a transient failure (default {DEFAULT_MAX_RETRIES}; "
                             "0 = one attempt)")
    if max_ungraded:
        parser.add_argument("--max-ungraded", type=float, default=1.0,
                            help="fail (after writing results) when more than this fraction of a task's samples "
                                 "stays ungraded by the judge (default 1.0: report only; 0 = fail on any)")


def _build_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"base_url": args.judge_base_url, "api_key_env": args.judge_api_key_env,
                               "cache_dir": args.judge_cache_dir, "max_concurrency": args.judge_concurrency}
    if args.judge_timeout is not None:
        if args.judge_timeout <= 0:
            raise UserInputError(f"--judge-timeout {args.judge_timeout:g} must be > 0 seconds, e.g. 30")
        options["timeout"] = args.judge_timeout
    if args.judge_retries is not None:
        if args.judge_retries < 0:
            raise UserInputError(f"--judge-retries {args.judge_retries} must be >= 0, e.g. 2")
        options["max_retries"] = args.judge_retries
    if args.judge_concurrency < 1:
        raise UserInputError(f"--judge-concurrency {args.judge_concurrency} must be >= 1, e.g. 8")
    return options


def judge_for_benchmark(args: argparse.Namespace) -> Callable[[str], Any] | None:
    """``benchmark -> Judge | None`` from the parsed options, or ``None`` for ``--judge none``."""
    from mg_eval.judges.factory import judge_per_benchmark

    return judge_per_benchmark(args.judge, **_build_options(args))


def judge_for_task(args: argparse.Namespace) -> Callable[[Any], Any] | None:
    """``task -> Judge | None`` (what the engine takes), or ``None`` for ``--judge none``."""
    by_benchmark = judge_for_benchmark(args)
    if by_benchmark is None:
        return None
    return lambda task: by_benchmark(task.benchmark)


def ungraded_hint(judge_name: str | None) -> str:
    """How to grade the samples a scorer left ungraded: fix the judge that failed, or name one."""
    if judge_name:
        return (f"the judge {judge_name} failed on them: check its base URL, key and model (the judge's failure "
                "count is in results.json) and rerun; cached grades are reused")
    return "no judge was given: pass --judge paper (or openai:<model>, local:<path>) to grade them"
