"""The task registry: every ``tasks/**/*.yaml`` (files starting with ``_`` are templates for ``include``).

A YAML with ``task:`` is a task; one with ``group:`` and a ``task:`` list is a group; every ``tag:`` of a
task is a group too. ``mgm_paper`` (``tasks/mgm_paper.yaml``) holds the six tasks as the paper ran them.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import difflib
import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path

from mg_eval.api import Benchmark, GroupScore, normalise_name
from mg_eval.errors import UserInputError
from mg_eval.tasks.benchmark import DECLARATION_FILE, parse_benchmark
from mg_eval.tasks.config import GroupConfig, TaskConfig, parse_config
from mg_eval.tasks.task import Task

__all__ = ["TASKS_ROOT", "Registry", "current_root", "default_registry", "use_tasks_root"]

#: The folder of the package ``mg_tasks``: ``tasks/`` of the repository in a checkout or an editable install,
#: ``site-packages/mg_tasks`` in a wheel install (pyproject ``[tool.setuptools.package-dir]``); found through the
#: import system without running ``mg_tasks``.
def _tasks_root() -> Path:
    spec = importlib.util.find_spec("mg_tasks")
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    return Path(__file__).resolve().parents[2] / "tasks"  # a checkout used without installing (PYTHONPATH=.)


TASKS_ROOT = _tasks_root()

#: The tasks root of the running command (``mg-eval --tasks-root DIR``); ``None`` = :data:`TASKS_ROOT`.
_ROOT: contextvars.ContextVar[Path | None] = contextvars.ContextVar("mg_eval_tasks_root", default=None)


def current_root() -> Path:
    """The tasks root in use: the one set by :func:`use_tasks_root`, else :data:`TASKS_ROOT`."""
    return _ROOT.get() or TASKS_ROOT


@contextlib.contextmanager
def use_tasks_root(root: str | Path | None) -> Iterator[Path]:
    """Resolve tasks and benchmarks under ``root`` inside the ``with`` block (``None``: the default root).

    Scoped (a context variable, restored on exit): the CLI wraps one command in it; library callers can
    pass ``root=`` to the functions instead.

    Raises:
        UserInputError: ``root`` is not a folder.
    """
    if root is not None and not Path(root).is_dir():
        raise UserInputError(f"tasks root {root} is not a folder; pass --tasks-root DIR with benchmark folders "
                             "(each tasks/<benchmark>/ with its YAMLs), or leave it out for the shipped tasks/.")
    token = _ROOT.set(Path(root).resolve() if root is not None else None)
    try:
        yield current_root()
    finally:
        _ROOT.reset(token)


@dataclasses.dataclass
class Registry:
    """Tasks and groups found under ``root``; ``errors`` holds ``(yaml file, message)`` for broken YAMLs."""

    root: Path
    tasks: dict[str, TaskConfig] = dataclasses.field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    benchmarks: dict[str, Benchmark] = dataclasses.field(default_factory=dict)
    group_scores: dict[str, GroupScore] = dataclasses.field(default_factory=dict)
    errors: list[tuple[Path, str]] = dataclasses.field(default_factory=list)

    @classmethod
    def scan(cls, root: Path) -> Registry:
        """Parse every YAML under ``root``; broken ones are collected in ``errors``, not raised."""
        registry = cls(Path(root))
        if not registry.root.is_dir():
            registry.errors.append((registry.root, f"task folder {registry.root} does not exist"))
            return registry
        declarations = []
        for path in sorted(registry.root.rglob("*.yaml")):
            if path.name.startswith("_"):
                continue
            if path.name == DECLARATION_FILE:
                declarations.append(path)
                continue
            try:
                registry._add(parse_config(path))
            except UserInputError as exc:
                registry.errors.append((path, str(exc)))
        for path in declarations:
            primary = {name: config.metric_list[0].metric for name, config in registry.tasks.items()
                       if config.folder == path.parent.resolve()}
            try:
                declaration = parse_benchmark(path, primary)
            except UserInputError as exc:
                registry.errors.append((path, str(exc)))
                continue
            registry.benchmarks[declaration.name] = declaration
        return registry

    def find_benchmark(self, name: str) -> Benchmark | None:
        """The declaration named ``name`` (a benchmark name, title or alias, any spelling, or a task name)."""
        key = normalise_name(name)
        for declaration in self.benchmarks.values():
            if key in declaration.names():
                return declaration
        if name in self.tasks:
            return self.benchmarks.get(self.tasks[name].folder.name)
        return None

    def _add(self, config: TaskConfig | GroupConfig) -> None:
        if isinstance(config, GroupConfig):
            if config.group in self.groups or config.group in self.tasks:
                raise UserInputError(f"{config.yaml_file}: group name '{config.group}' is already used.")
            self.groups[config.group] = config.task
            if config.average is not None:
                self.group_scores[config.group] = config.average
            return
        if config.task in self.tasks or config.task in self.groups:
            other = self.tasks[config.task].yaml_file if config.task in self.tasks else "a group"
            raise UserInputError(f"{config.yaml_file}: task name '{config.task}' is already defined in {other}.")
        self.tasks[config.task] = config
        for tag in config.tag:
            self.groups[tag] = self.groups.get(tag, ()) + (config.task,)

    def check(self) -> None:
        """Raise the first YAML error, and any group member that is not a task or group."""
        if self.errors:
            path, message = self.errors[0]
            more = f" (and {len(self.errors) - 1} more; run `mg-eval validate`)" if len(self.errors) > 1 else ""
            raise UserInputError(message + more)
        for group, members in self.groups.items():
            for member in members:
                if member not in self.tasks and member not in self.groups:
                    raise UserInputError(f"group '{group}' lists unknown task '{member}'{self._suggest(member)}")
                if group in self.group_scores and member not in self.tasks:
                    raise UserInputError(f"group '{group}' has an average, so its members must be tasks; "
                                         f"'{member}' is a group.")

    def _suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name, sorted(self.tasks) + sorted(self.groups), n=5, cutoff=0.5)
        return f"; did you mean: {', '.join(close)}?" if close else f"; known tasks: {', '.join(sorted(self.tasks))}."

    def get_task(self, name: str) -> Task:
        """The task called ``name``.

        Raises:
            UserInputError: unknown name (with close matches), or a broken YAML.
        """
        if name not in self.tasks:
            if name in self.groups:
                raise UserInputError(f"'{name}' is a group, not a task; use resolve_tasks(['{name}']).")
            self.check()
            raise UserInputError(f"unknown task '{name}'{self._suggest(name)}")
        return self._task(name)

    def _task(self, name: str) -> Task:
        config = self.tasks[name]
        return Task(config, self.benchmarks.get(config.folder.name))

    def expand(self, name: str, _stack: tuple[str, ...] = ()) -> list[str]:
        """Task names of a task, group or tag (groups expand recursively, in order)."""
        if name in self.tasks:
            return [name]
        if name not in self.groups:
            self.check()
            raise UserInputError(f"unknown task or group '{name}'{self._suggest(name)}")
        if name in _stack:
            raise UserInputError(f"group '{name}' includes itself: {' -> '.join(_stack + (name,))}")
        names: list[str] = []
        for member in self.groups[name]:
            names.extend(self.expand(member, _stack + (name,)))
        return names

    def resolve(self, names: list[str] | tuple[str, ...] | str) -> list[Task]:
        """Tasks for task/group names (a comma-separated string also works); duplicates dropped, order kept."""
        if isinstance(names, str):
            names = [names]
        wanted: list[str] = []
        for item in names:
            for name in (part.strip() for part in item.split(",")):
                if name:
                    wanted.extend(n for n in self.expand(name) if n not in wanted)
        if not wanted:
            raise UserInputError("no task given; name tasks or groups, e.g. mgm_paper (see `mg-eval tasks`).")
        return [self._task(name) for name in wanted]


@functools.lru_cache(maxsize=4)
def default_registry(root: Path = TASKS_ROOT) -> Registry:
    """The registry of ``root`` (scanned once per process)."""
    return Registry.scan(root)
