"""The task registry: benchmark folders ``tasks/<benchmark>/`` (task YAMLs + ``benchmark.yaml``), ``Task`` objects.

```python
from mg_eval.tasks import get_task, list_tasks, resolve_tasks, get_benchmark
task = get_task("textvqa_val")
tasks = resolve_tasks(["mgm_paper"])
declaration = get_benchmark(task.benchmark)       # mg_eval.api.Benchmark (judge role, units, paper columns)
scorer = benchmark_module(task.benchmark, "scorer")  # a module of the benchmark folder
```

Every function takes ``root=`` (another tasks folder); without it the root of :func:`use_tasks_root`
(``mg-eval --tasks-root``) or the shipped ``tasks/`` is used. See ``docs/tasks.md`` and ``docs/architecture.md``.
"""

from __future__ import annotations

import types
from pathlib import Path

from mg_eval.api import PROTOCOLS, Benchmark, GroupScore
from mg_eval.errors import UserInputError
from mg_eval.tasks.config import TaskConfig
from mg_eval.tasks.modules import import_folder_module
from mg_eval.tasks.registry import TASKS_ROOT, Registry, current_root, default_registry, use_tasks_root
from mg_eval.tasks.task import Task

__all__ = ["PROTOCOLS", "TASKS_ROOT", "Registry", "Task", "TaskConfig", "benchmark_module", "current_root",
           "find_benchmark", "get_benchmark", "get_task", "list_benchmarks", "list_group_scores", "list_groups",
           "list_tasks",
           "resolve_tasks", "use_tasks_root"]


def _registry(root: Path | None) -> Registry:
    return default_registry(Path(root).resolve() if root is not None else current_root())


def get_task(name: str, root: Path | None = None) -> Task:
    """The task ``name`` (``root``: a task folder other than the current one).

    Raises:
        UserInputError: unknown name; the message lists close matches.
    """
    return _registry(root).get_task(name)


def list_tasks(root: Path | None = None) -> list[str]:
    """Sorted names of all tasks."""
    return sorted(_registry(root).tasks)


def list_groups(root: Path | None = None) -> dict[str, list[str]]:
    """Group and tag names -> the task names they expand to."""
    registry = _registry(root)
    return {name: registry.expand(name) for name in sorted(registry.groups)}


def list_group_scores(root: Path | None = None) -> list[GroupScore]:
    """The summary scores groups declare (``average:`` in a group YAML), by group name (one naming a task that
    does not exist is left out; `mg-eval validate` reports it)."""
    registry = _registry(root)
    return [score for _, score in sorted(registry.group_scores.items())
            if all(task in registry.tasks for task in score.tasks)]


def resolve_tasks(names: list[str] | tuple[str, ...] | str, root: Path | None = None) -> list[Task]:
    """Tasks for task and group names (groups expand; duplicates dropped, order kept).

    Raises:
        UserInputError: an unknown name; the message lists close matches.
    """
    return _registry(root).resolve(names)


def list_benchmarks(root: Path | None = None) -> list[Benchmark]:
    """Every declared benchmark (``tasks/<b>/benchmark.yaml``), by name."""
    registry = _registry(root)
    return [registry.benchmarks[name] for name in sorted(registry.benchmarks)]


def find_benchmark(name: str, root: Path | None = None) -> Benchmark | None:
    """The declaration for a benchmark name (any spelling: ``MM-Vet``, an alias) or a task name; else ``None``."""
    return _registry(root).find_benchmark(name)


def get_benchmark(name: str, root: Path | None = None) -> Benchmark:
    """Like :func:`find_benchmark`, but an unknown name is a :class:`UserInputError` listing the known ones."""
    declaration = find_benchmark(name, root)
    if declaration is None:
        known = ", ".join(b.name for b in list_benchmarks(root))
        raise UserInputError(f"no benchmark declaration for {name!r} under {_registry(root).root}; known: {known}")
    return declaration


def benchmark_module(benchmark: str, module: str, root: Path | None = None) -> types.ModuleType:
    """The module ``<root>/<benchmark>/<module>.py`` (e.g. ``benchmark_module("mme", "scorer")``).

    Raises:
        UserInputError: no such benchmark folder or module.
    """
    folder = _registry(root).root / benchmark
    if not (folder / f"{module.replace('.', '/')}.py").is_file():
        raise UserInputError(f"{folder}: no module {module}.py in this benchmark folder.")
    return import_folder_module(folder, module)
