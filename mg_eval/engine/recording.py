"""What a run records about its judge and its task in results.json (plain JSON values, never an API key)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mg_eval.api import SharingGenerator, TaskLike


def judge_for(judge: Any, task: TaskLike) -> Any:
    """``judge`` may be a Judge, ``None``, or a callable ``task -> Judge | None`` (e.g. the paper's judge per benchmark)."""
    if judge is None or hasattr(judge, "complete"):
        return judge
    return judge(task)


def judge_stats(judge: Any) -> dict[str, Any] | None:
    """The judge's counters now (a judge shared by several tasks reports each task's own share)."""
    stats = getattr(judge, "stats", None)
    return stats.to_dict() if hasattr(stats, "to_dict") else None


def judge_report_for_results(judge: Any, since: dict[str, Any] | None = None) -> dict[str, Any]:
    """The judge's description for results (never an API key); counters since ``since``."""
    from mg_eval.judges.factory import judge_report

    return plain(judge_report(judge, since))


def task_config(task: TaskLike, protocol: str) -> dict[str, Any]:
    """The task's resolved config as plain JSON (dataclass fields; functions and paths as strings).

    ``config`` is what :class:`mg_eval.tasks.Task` carries beyond the protocol (a task without one records
    only its resolved prompt)."""
    config = getattr(task, "config", None)
    if dataclasses.is_dataclass(config):
        resolved = plain({field.name: getattr(config, field.name) for field in dataclasses.fields(config)})
    elif isinstance(config, Mapping):
        resolved = plain(dict(config))
    else:
        resolved = {}
    resolved["resolved_prompt"] = plain(task.prompt_config(protocol))
    return resolved


def plain(value: Any) -> Any:
    """JSON-able copy: containers recursed, scalars kept, anything else (paths, functions) -> str."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain({field.name: getattr(value, field.name) for field in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def sharing_report(generator: Any) -> dict[str, Any]:
    """results.json ``run_config.share``: enabled + feature-cache counters (``{"enabled": False}`` without)."""
    return generator.sharing_report() if isinstance(generator, SharingGenerator) else {"enabled": False}
