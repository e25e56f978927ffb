"""Build a judge from a short spec string, with the paper's defaults and the on-disk cache.

Specs::

    none                      no judge: judge-dependent steps count their samples as ungraded
    paper  (or None)          the judge the paper's scores used (the benchmark's declared judge.paper)
    openai:gpt-4-0613         OpenAI or any OpenAI-compatible server (base_url=http://host:8000/v1 for vLLM)
    azure:my-gpt4-deployment  Azure OpenAI deployment (base_url=https://<resource>.openai.azure.com)
    local:/models/qwen2-7b    a transformers causal LM from a local directory

Every judge is wrapped in :class:`~mg_eval.judges.cache.CachedJudge` unless ``use_cache=False``,
and carries a :class:`~mg_eval.judges.stats.JudgeStats` in ``judge.stats``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mg_eval.api import Benchmark
from mg_eval.errors import UserInputError
from mg_eval.judges.base import Judge
from mg_eval.judges.cache import CachedJudge, JudgeCache
from mg_eval.judges.chat_client import DEFAULT_API_KEY_ENV
from mg_eval.judges.openai_compat import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    OpenAICompatJudge,
)
from mg_eval.judges.stats import JudgeStats
from mg_eval.tasks import get_benchmark, list_benchmarks

__all__ = ["DEFAULT_CACHE_DIR", "build_judge", "judge_per_benchmark", "judge_report", "paper_judge_spec",
           "paper_judges"]

DEFAULT_CACHE_DIR = Path("~/.cache/mg_eval/judges")
_DEFAULT_KEY_ENV = {"openai": DEFAULT_API_KEY_ENV, "azure": "AZURE_API_KEY"}


def paper_judges(root: Path | None = None) -> dict[str, str]:
    """``benchmark -> judge spec`` of the paper's numbers, for every benchmark (under ``root``) that declares a judge."""
    return {b.name: b.judge.paper for b in list_benchmarks(root) if b.judge is not None}


def paper_judge_spec(benchmark: str | Benchmark) -> str | None:
    """The paper's judge spec for ``benchmark``, ``None`` if its official scoring is LLM-free.

    Read from the benchmark's declaration (``judge.paper`` in ``tasks/<benchmark>/benchmark.yaml``); a name is
    looked up in the current tasks root (any spelling, an alias or a task name).

    Raises:
        UserInputError: no benchmark of that name is declared.
    """
    declaration = benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)
    return declaration.judge.paper if declaration.judge is not None else None


def build_judge(
    spec: str | None,
    *,
    benchmark: str | Benchmark | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    api_version: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
    backoff_base: float = 1.0,
    max_concurrency: int = 8,
    device: str = "cpu",
    stats: JudgeStats | None = None,
) -> Judge | None:
    """Build the judge named by ``spec`` (see the module docstring), or ``None`` for ``"none"``.

    Args:
        spec: judge spec; ``None`` or ``"paper"`` means the paper's judge for ``benchmark``.
        benchmark: used only to resolve the paper default.
        base_url: API root for ``openai:`` (default ``https://api.openai.com/v1``) and ``azure:`` (required).
        api_key_env: environment variable with the key (default ``OPENAI_API_KEY`` / ``AZURE_API_KEY``).
        api_version: Azure ``api-version``.
        cache_dir: directory (or ``.sqlite`` file) of the completion cache; default ``~/.cache/mg_eval/judges``.
        use_cache: ``False`` sends every request to the backend.
        timeout / max_retries / backoff_base / max_concurrency: HTTP client settings.
        device: device of a local judge.
        stats: counters to use (a fresh ``JudgeStats`` by default); also available as ``judge.stats``.

    Raises:
        UserInputError: malformed spec, missing key for a hosted API, unusable path or cache.
    """
    if spec is None or spec.strip().lower() == "paper":
        if benchmark is None:
            raise UserInputError("judge spec 'paper' needs the benchmark name; or pass e.g. openai:gpt-4-0613")
        spec = paper_judge_spec(benchmark)
        if spec is None:
            return None
    kind, _, target = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "none" and not target:
        return None
    stats = stats if stats is not None else JudgeStats()
    judge = _build_backend(kind, target.strip(), spec, base_url=base_url, api_key_env=api_key_env,
                           api_version=api_version, timeout=timeout, max_retries=max_retries,
                           backoff_base=backoff_base, max_concurrency=max_concurrency, device=device, stats=stats)
    if not use_cache:
        return judge
    cache = JudgeCache(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR)
    return CachedJudge(judge, cache, stats=stats)


def judge_per_benchmark(spec: str | None, **options: Any) -> Callable[[str], Judge | None] | None:
    """The one way the CLI builds judges: ``None`` for ``none``, else ``benchmark -> Judge | None``.

    Each distinct judge is built once, on first use, and shared: with ``paper`` one per benchmark (the
    paper's judge differs by benchmark), with any other spec a single judge for every benchmark.
    ``options`` are :func:`build_judge`'s keyword arguments (base_url, api_key_env, cache_dir, timeout,
    max_retries, max_concurrency, ...).
    """
    if spec is not None and spec.strip().lower() == "none":
        return None
    per_benchmark = spec is None or spec.strip().lower() == "paper"
    built: dict[str, Judge | None] = {}

    def for_benchmark(benchmark: str) -> Judge | None:
        key = benchmark if per_benchmark else str(spec)
        if key not in built:
            built[key] = build_judge(spec, benchmark=benchmark, **options)
        return built[key]

    return for_benchmark


def _build_backend(kind: str, target: str, spec: str, *, base_url: str | None, api_key_env: str | None,
                   api_version: str | None, timeout: float, max_retries: int, backoff_base: float,
                   max_concurrency: int,
                   device: str, stats: JudgeStats) -> Judge:
    if not target or kind not in ("openai", "azure", "local"):
        raise UserInputError(
            f"judge spec {spec!r} is not understood; use none, paper, openai:<model>, "
            "azure:<deployment> or local:<path to a transformers model>"
        )
    if kind == "local":
        from mg_eval.judges.local import LocalJudge  # torch + transformers only when asked for

        return LocalJudge(target, device=device, stats=stats)
    if kind == "azure" and not base_url:
        raise UserInputError(f"judge {spec!r}: an Azure judge needs base_url=https://<resource>.openai.azure.com")
    options: dict[str, Any] = {"api_style": kind, "api_key_env": api_key_env or _DEFAULT_KEY_ENV[kind],
                               "timeout": timeout, "max_retries": max_retries, "backoff_base": backoff_base,
                               "max_concurrency": max_concurrency, "stats": stats}
    if api_version:
        options["api_version"] = api_version
    return OpenAICompatJudge(target, base_url=base_url or DEFAULT_BASE_URL, **options)


def judge_report(judge: Judge | None, since: dict[str, Any] | None = None) -> dict[str, Any]:
    """The judge block for results: name, kind, model, endpoint, cache file and counters (never a key).

    ``since``: an earlier ``judge.stats.to_dict()``; the counters are then those of the work done after
    it (one judge shared by several tasks reports each task's own calls). ``None`` gives
    ``{"name": None}`` so "no judge" is recorded explicitly.
    """
    if judge is None:
        return {"name": None}
    describe = getattr(judge, "describe", None)
    report: dict[str, Any] = dict(describe()) if describe else {"name": judge.name}
    stats = getattr(judge, "stats", None)
    if isinstance(stats, JudgeStats):
        counts = stats.to_dict()
        if since:
            counts = {key: round(value - since.get(key, 0), 3) if isinstance(value, float) else value - since.get(key, 0)
                      for key, value in counts.items()}
        report["stats"] = counts
    return report
