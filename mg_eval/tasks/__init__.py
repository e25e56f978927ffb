"""The task registry: YAML task configs under ``tasks/<benchmark>/``, ``Task`` objects and data loaders.

```python
from mg_eval.tasks import get_task, list_tasks, resolve_tasks
task = get_task("textvqa_val")
tasks = resolve_tasks(["mgm_paper"])
```

See ``docs/tasks.md`` (YAML keys, protocols, data locations) and ``docs/architecture.md`` ("Task").
"""

from __future__ import annotations

from pathlib import Path

from mg_eval.tasks.config import PROTOCOLS, TaskConfig
from mg_eval.tasks.registry import TASKS_ROOT, Registry, default_registry
from mg_eval.tasks.task import Task

__all__ = ["PROTOCOLS", "TASKS_ROOT", "Registry", "Task", "TaskConfig", "get_task", "list_groups", "list_tasks",
           "resolve_tasks"]


def get_task(name: str, root: Path | None = None) -> Task:
    """The task ``name`` (``root``: a task folder other than the repository's ``tasks/``).

    Raises:
        UserInputError: unknown name; the message lists close matches.
    """
    return default_registry(root or TASKS_ROOT).get_task(name)


def list_tasks(root: Path | None = None) -> list[str]:
    """Sorted names of all tasks."""
    return sorted(default_registry(root or TASKS_ROOT).tasks)


def list_groups(root: Path | None = None) -> dict[str, list[str]]:
    """Group and tag names -> the task names they expand to."""
    registry = default_registry(root or TASKS_ROOT)
    return {name: registry.expand(name) for name in sorted(registry.groups)}


def resolve_tasks(names: list[str] | tuple[str, ...] | str, root: Path | None = None) -> list[Task]:
    """Tasks for task and group names (groups expand; duplicates dropped, order kept).

    Raises:
        UserInputError: an unknown name; the message lists close matches.
    """
    return default_registry(root or TASKS_ROOT).resolve(names)
