"""Task YAML parsing: a typed ``TaskConfig``, ``include`` inheritance and ``!function`` references.

The YAML keys follow lmms-eval (``task``, ``dataset_path``, ``dataset_name``, ``dataset_kwargs``,
``test_split``, ``doc_to_visual``, ``doc_to_text``, ``doc_to_target``, ``generation_kwargs``,
``process_results``, ``metric_list``, ``include``, ``tag``, ``metadata``) plus our own keys:

* ``protocols``: ``{mgm: {prompt: {...}, generation_kwargs: {...}}, lmms: {...}}``, the two prompt
  protocols (prompt pieces handed to ``doc_to_text``/``doc_to_visual``, and decoding settings);
* ``doc_id``: the column that identifies a sample (``null``: the row's place in the split, for hub data
  without an id column, e.g. ChartQA); ``required_fields`` / ``image_fields``: the schema
  checked before inference; ``optional_image_fields``: image columns that may be empty;
* ``field_types``: ``{field: type}`` checked on every row before inference (``str``, ``int``, ``number``,
  ``bool``, ``list``, ``list[str]``, ``dict``, ``null``, alternatives joined by ``|``: ``str|null``);
* ``doc_id_repeats``: how many rows may share one ``doc_id`` (default 1; MME: 2, two questions per image;
  such rows get ``#0``/``#1`` suffixes and must differ in their other fields);
* ``dataset_path_former``: hub ids the dataset had before (lmms-eval PR #1416 moved ``lmms-lab/X`` to
  ``lmms-lab-encoder/X``); tried in order when ``dataset_path`` cannot be loaded (e.g. offline with a cache
  under the old id);
* ``official_format``: ``!function official_data.read``, the reader of the benchmark's official files;
* ``hub_format``: ``!function official_data.from_hub``, for a task whose docs follow its official files'
  schema rather than the hub's: maps the hub dataset's rows (and local copies in the hub layout) into it;
* ``sample``: the bundled sample data folder, relative to the YAML.

An unknown key is an error naming the YAML file and the key. ``!function utils.fn`` names a function in
a ``.py`` file inside the task's own folder; a reference that leaves the folder is an error.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from mg_eval.api import PROTOCOLS, TASK_GENERATION_KEYS, GroupScore
from mg_eval.errors import UserInputError
from mg_eval.tasks.modules import import_folder_module

__all__ = ["PROTOCOLS", "FunctionRef", "GroupConfig", "TaskConfig", "load_yaml", "parse_config"]
#: the hub revision a task reads unless its YAML pins ``dataset_kwargs.revision`` (the hub's default branch;
#: pinning a commit sha is open for every task, docs/tasks.md "Hub ids").
DEFAULT_HUB_REVISION = "main"
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

# lmms-eval keys we recognise but do not implement: a clear error instead of silently ignoring them.
_UNSUPPORTED_LMMS_KEYS = {
    "training_split", "validation_split", "fewshot_split", "fewshot_config", "num_fewshot", "doc_to_choice",
    "doc_to_messages", "description", "target_delimiter", "fewshot_delimiter", "use_prompt", "filter_list",
    "repeats", "should_decontaminate", "doc_to_decontamination_query", "process_docs", "full_docs",
    "lmms_eval_specific_kwargs", "model_specific_generation_kwargs", "model_specific_target_kwargs",
    "process_results_use_image", "reasoning_tags", "auto_strip_thinking", "cluster_key", "score_key",
    "group_alias",
}


@dataclasses.dataclass(frozen=True)
class FunctionRef:
    """A ``!function module.name`` reference, resolved lazily inside ``folder``."""

    dotted: str
    folder: Path
    yaml_file: Path

    def resolve(self) -> Callable[..., Any]:
        """Import the function from ``<folder>/<module>.py`` (see :mod:`mg_eval.tasks.modules`).

        Raises:
            UserInputError: the reference is malformed, leaves the folder, or names nothing.
        """
        func = self.resolve_value()
        if not callable(func):
            raise UserInputError(f"{self.yaml_file}: '!function {self.dotted}' names {type(func).__name__}, not a function.")
        return func

    def resolve_value(self) -> Any:
        """The object the reference names (a function, or a constant such as a category list)."""
        if not _DOTTED_NAME.match(self.dotted):
            raise UserInputError(
                f"{self.yaml_file}: '!function {self.dotted}' must look like 'utils.function_name' "
                f"(a module file in the task folder {self.folder}, then a function name)."
            )
        *module_parts, func_name = self.dotted.split(".")
        module_file = self.folder.joinpath(*module_parts).with_suffix(".py").resolve()
        if not module_file.is_relative_to(self.folder.resolve()):
            raise UserInputError(f"{self.yaml_file}: '!function {self.dotted}' leaves the task folder {self.folder}.")
        if not module_file.is_file():
            raise UserInputError(
                f"{self.yaml_file}: '!function {self.dotted}' needs {module_file}, which does not exist; "
                f"!function only resolves modules inside the task's own folder."
            )
        try:
            module = import_folder_module(self.folder, ".".join(module_parts))
        except ValueError as exc:
            raise UserInputError(f"{self.yaml_file}: {exc}") from exc
        if not hasattr(module, func_name):
            raise UserInputError(f"{self.yaml_file}: '!function {self.dotted}': {module_file} has no function '{func_name}'.")
        return getattr(module, func_name)

    def __call__(self, *args: Any, **offered: Any) -> Any:
        """Call the referenced function (resolved once per process) with ``args`` and those of the
        ``offered`` keyword arguments it declares (a hook takes only what it uses: ``prompt``, ``judge``,
        ``options``; a function with ``**kwargs`` gets them all)."""
        func = resolve_cached(self)
        return func(*args, **{k: v for k, v in offered.items() if _accepts(func, k)})


@functools.cache
def resolve_cached(ref: FunctionRef) -> Callable[..., Any]:
    return ref.resolve()


@functools.cache
def _declared(func: Callable[..., Any]) -> tuple[frozenset[str], bool]:
    """The keyword-passable parameter names of ``func`` and whether it takes ``**kwargs``."""
    params = inspect.signature(func).parameters.values()
    names = frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def _accepts(func: Callable[..., Any], name: str) -> bool:
    names, any_keyword = _declared(func)
    return any_keyword or name in names


class _TaskYamlLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!function x.y`` into a :class:`FunctionRef`."""

    yaml_file: Path


def _function_constructor(loader: _TaskYamlLoader, node: yaml.Node) -> FunctionRef:
    return FunctionRef(str(loader.construct_scalar(node)).strip(), loader.yaml_file.parent, loader.yaml_file)


_TaskYamlLoader.add_constructor("!function", _function_constructor)


def load_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read one task YAML, merging ``include`` files (child keys win; relative to the YAML's folder).

    Raises:
        UserInputError: unreadable YAML, a cyclic include, or an include outside the task folder.
    """
    path = path.resolve()
    if path in _seen:
        raise UserInputError(f"{path}: cyclic 'include' chain: {' -> '.join(str(p) for p in _seen + (path,))}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"cannot read task YAML {path}: {exc}") from exc
    loader = _TaskYamlLoader(text)
    loader.yaml_file = path
    try:
        data = loader.get_single_data() or {}
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a task YAML must be a mapping of keys, got {type(data).__name__}.")
    includes = data.pop("include", None)
    if includes is None:
        return data
    merged: dict[str, Any] = {}
    for include in [includes] if isinstance(includes, str) else list(includes):
        target = (path.parent / include).resolve()
        if not target.is_relative_to(path.parent):
            raise UserInputError(f"{path}: include '{include}' leaves the task folder {path.parent}.")
        merged.update(load_yaml(target, _seen + (path,)))
    merged.update(data)
    return merged


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """One ``metric_list`` entry."""

    metric: str
    aggregation: FunctionRef
    higher_is_better: bool


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """One prompt protocol: prompt pieces for ``doc_to_text``/``doc_to_visual`` and decoding settings."""

    prompt: dict[str, Any]
    generation_kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """A validated task YAML (after ``include`` merging). Field names are the YAML keys."""

    yaml_file: Path
    task: str
    dataset_path: str
    test_split: str
    doc_to_visual: FunctionRef | None  # None: the images of image_fields, then the set optional_image_fields
    doc_to_text: FunctionRef
    doc_to_target: str | FunctionRef
    process_results: FunctionRef
    metric_list: tuple[MetricSpec, ...]
    protocols: dict[str, ProtocolSpec]
    doc_id: str | None
    required_fields: tuple[str, ...]
    image_fields: tuple[str, ...]
    version: int | float | str
    metadata: dict[str, Any]
    dataset_name: str | tuple[str, ...] | None = None
    dataset_path_former: tuple[str, ...] = ()
    dataset_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    optional_image_fields: tuple[str, ...] = ()
    official_format: FunctionRef | None = None
    hub_format: FunctionRef | None = None
    sample: str | None = None
    tag: tuple[str, ...] = ()
    task_alias: str | None = None
    output_type: str = "generate_until"
    generation_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    field_types: dict[str, str] = dataclasses.field(default_factory=dict)
    doc_id_repeats: int = 1
    aggregate: FunctionRef | None = None

    @property
    def folder(self) -> Path:
        """The task's own folder (where ``!function`` modules and sample data live)."""
        return self.yaml_file.parent

    @property
    def revision(self) -> str | None:
        """The pinned hub revision (``dataset_kwargs.revision``)."""
        return self.dataset_kwargs.get("revision")


@dataclasses.dataclass(frozen=True)
class GroupConfig:
    """A group YAML: ``group: name`` + ``task: [names]`` (+ ``average:``, its summary score, as data)."""

    yaml_file: Path
    group: str
    task: tuple[str, ...]
    metadata: dict[str, Any]
    average: GroupScore | None = None


_TASK_FIELDS = {f.name for f in dataclasses.fields(TaskConfig)} - {"yaml_file", "version"}
_GROUP_KEYS = {"group", "task", "metadata", "average"}
_AVERAGE_KEYS = {"key", "title", "scores", "decimals", "source"}


def _unknown_key_error(path: Path, key: str, allowed: set[str]) -> UserInputError:
    if key in _UNSUPPORTED_LMMS_KEYS:
        hint = "it is an lmms-eval key this harness does not implement"
        if key == "lmms_eval_specific_kwargs":
            hint += "; put prompt pieces under 'protocols: {mgm|lmms: {prompt: ...}}' (never keyed on a model name)"
    else:
        close = difflib.get_close_matches(key, sorted(allowed), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
    return UserInputError(f"{path}: unknown key '{key}' ({hint}).")


def _require(path: Path, data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise UserInputError(f"{path}: missing required key '{key}'.")
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserInputError(f"{path}: key '{key}' must be {names}, got {type(value).__name__}.")
    return value


def _parse_metrics(path: Path, entries: list[Any], aggregate: FunctionRef | None) -> tuple[MetricSpec, ...]:
    """``metric_list`` entries: ``name`` or ``{metric, higher_is_better, aggregation}``; ``aggregation``
    defaults to the task's ``aggregate`` and ``higher_is_better`` to true."""
    metrics = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"metric": entry}
        if not isinstance(entry, dict) or "metric" not in entry or set(entry) - {"metric", "aggregation", "higher_is_better"}:
            raise UserInputError(
                f"{path}: metric_list[{i}] must be a metric name or a mapping with 'metric' (and optionally "
                f"'higher_is_better', 'aggregation'); got {entry!r}."
            )
        aggregation = entry.get("aggregation", aggregate)
        if not isinstance(aggregation, FunctionRef):
            raise UserInputError(f"{path}: metric_list[{i}] needs an aggregation: set the task's "
                                 f"'aggregate: !function scorer.aggregate' (or the entry's 'aggregation').")
        metrics.append(MetricSpec(str(entry["metric"]), aggregation, bool(entry.get("higher_is_better", True))))
    if not metrics:
        raise UserInputError(f"{path}: metric_list is empty; a task needs at least one metric.")
    return tuple(metrics)


def _parse_generation(path: Path, where: str, kwargs: Any) -> dict[str, Any]:
    if not isinstance(kwargs, dict):
        raise UserInputError(f"{path}: {where} must be a mapping.")
    for key in kwargs:
        if key not in TASK_GENERATION_KEYS:
            raise UserInputError(f"{path}: {where}: unknown generation key '{key}' "
                                 f"(allowed: {', '.join(TASK_GENERATION_KEYS)}).")
    return dict(kwargs)


def _parse_protocols(path: Path, data: Any, base_generation: dict[str, Any]) -> dict[str, ProtocolSpec]:
    if not isinstance(data, dict) or set(data) != set(PROTOCOLS):
        raise UserInputError(f"{path}: 'protocols' must define exactly {', '.join(PROTOCOLS)}; got {data!r:.80}.")
    protocols = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or set(spec) - {"prompt", "generation_kwargs"}:
            raise UserInputError(f"{path}: protocols.{name} may only hold 'prompt' and 'generation_kwargs'.")
        prompt = spec.get("prompt") or {}
        if not isinstance(prompt, dict):
            raise UserInputError(f"{path}: protocols.{name}.prompt must be a mapping.")
        prompt = {"style": name, **prompt}  # the prompt style defaults to the protocol's name
        generation = {**base_generation, **_parse_generation(path, f"protocols.{name}.generation_kwargs",
                                                             spec.get("generation_kwargs") or {})}
        protocols[name] = ProtocolSpec(prompt=dict(prompt), generation_kwargs=generation)
    return protocols


def _optional_ref(path: Path, data: dict[str, Any], key: str) -> FunctionRef | None:
    value = data.get(key)
    if value is not None and not isinstance(value, FunctionRef):
        raise UserInputError(f"{path}: '{key}' must be a '!function module.name' reference in the task folder "
                             f"(e.g. '!function official_data.read'), got {value!r}.")
    return value


#: ``field_types`` type names -> the Python types a row value may have (``list[str]``: checked per item).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "number": (int, float), "bool": (bool,), "list": (list, tuple),
    "list[str]": (list, tuple), "dict": (dict,), "null": (type(None),),
}


def _parse_field_types(path: Path, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserInputError(f"{path}: 'field_types' must be a mapping of field -> type, got {type(value).__name__}.")
    for name, spec in value.items():
        unknown = [part for part in str(spec).split("|") if part.strip() not in FIELD_TYPES]
        if unknown:
            raise UserInputError(f"{path}: field_types.{name}: unknown type {unknown[0]!r} "
                                 f"(known: {', '.join(FIELD_TYPES)}, alternatives joined by '|').")
    return {str(name): str(spec) for name, spec in value.items()}


def _parse_repeats(path: Path, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserInputError(f"{path}: 'doc_id_repeats' must be a positive integer, got {value!r}.")
    return value


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _average_member(path: Path, task: str, spec: Any) -> tuple[str, str, float]:
    """``(task, score key, scale)`` from ``task: key`` or ``task: {score: key, scale: number}``."""
    if isinstance(spec, str):
        return task, spec, 1.0
    if not isinstance(spec, dict) or not isinstance(spec.get("score"), str) or set(spec) - {"score", "scale"}:
        raise UserInputError(f"{path}: average.scores.{task} must be a score key or {{score: key, scale: number}}.")
    scale = spec.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool):
        raise UserInputError(f"{path}: average.scores.{task}.scale must be a number, got {scale!r}.")
    return task, spec["score"], float(scale)


def _parse_average(path: Path, group: str, tasks: tuple[str, ...], data: Any) -> GroupScore:
    """The group's ``average:`` block: ``key``, ``title``, ``scores`` (one per group task), ``decimals``, ``source``."""
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: 'average' must be a mapping with {', '.join(sorted(_AVERAGE_KEYS))}.")
    for key in data:
        if key not in _AVERAGE_KEYS:
            raise _unknown_key_error(path, key, _AVERAGE_KEYS)
    scores = _require(path, data, "scores", dict)
    if set(scores) != set(tasks):
        raise UserInputError(f"{path}: average.scores must name every task of group '{group}' once (missing: "
                             f"{sorted(set(tasks) - set(scores))}, not in the group: {sorted(set(scores) - set(tasks))}).")
    decimals = data.get("decimals")
    if decimals is not None and (not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0):
        raise UserInputError(f"{path}: average.decimals must be a non-negative integer, got {decimals!r}.")
    return GroupScore(group=group, key=_require(path, data, "key", str), title=str(data.get("title") or group),
                      members=tuple(_average_member(path, task, scores[task]) for task in tasks),
                      decimals=decimals, source=str(data.get("source") or ""))


def parse_config(path: Path) -> TaskConfig | GroupConfig:
    """Load ``path`` (with includes) and validate it into a :class:`TaskConfig` or :class:`GroupConfig`.

    Raises:
        UserInputError: an unknown key, a missing required key, or a value of the wrong type;
            the message names the YAML file and the key.
    """
    path = Path(path).resolve()
    data = load_yaml(path)
    if "group" in data and "task" in data and isinstance(data["task"], list):
        for key in data:
            if key not in _GROUP_KEYS:
                raise _unknown_key_error(path, key, _GROUP_KEYS)
        group, tasks = str(data["group"]), _as_tuple(data["task"])
        average = _parse_average(path, group, tasks, data["average"]) if "average" in data else None
        return GroupConfig(path, group, tasks, dict(data.get("metadata") or {}), average)
    if "group" in data:
        raise UserInputError(f"{path}: 'group' in a task YAML is deprecated in lmms-eval; use 'tag: [name]'.")
    allowed = _TASK_FIELDS | {"metadata"}
    for key in data:
        if key not in allowed:
            raise _unknown_key_error(path, key, allowed)
    metadata = _require(path, data, "metadata", dict)
    if "version" not in metadata:
        raise UserInputError(f"{path}: metadata.version is required (a number; bump it when prompts or scoring change).")
    output_type = data.get("output_type", "generate_until")
    if output_type != "generate_until":
        raise UserInputError(f"{path}: output_type '{output_type}' is not supported; only generate_until.")
    base_generation = _parse_generation(path, "generation_kwargs", data.get("generation_kwargs") or {})
    for key in ("doc_to_text", "process_results"):
        _require(path, data, key, FunctionRef)
    dataset_name = data.get("dataset_name")
    return TaskConfig(
        yaml_file=path,
        task=_require(path, data, "task", str),
        dataset_path=_require(path, data, "dataset_path", str),
        dataset_name=tuple(dataset_name) if isinstance(dataset_name, list) else dataset_name,
        dataset_kwargs={"revision": DEFAULT_HUB_REVISION, **(data.get("dataset_kwargs") or {})},
        dataset_path_former=_as_tuple(data.get("dataset_path_former")),
        test_split=_require(path, data, "test_split", str),
        doc_to_visual=_optional_ref(path, data, "doc_to_visual"),
        doc_to_text=data["doc_to_text"],
        doc_to_target=_require(path, data, "doc_to_target", (str, FunctionRef)),
        process_results=data["process_results"],
        aggregate=_optional_ref(path, data, "aggregate"),
        metric_list=_parse_metrics(path, _require(path, data, "metric_list", list), _optional_ref(path, data, "aggregate")),
        protocols=_parse_protocols(path, _require(path, data, "protocols", dict), base_generation),
        doc_id=_require(path, data, "doc_id", (str, type(None))),
        required_fields=_as_tuple(_require(path, data, "required_fields", list)),
        image_fields=_as_tuple(data.get("image_fields")),
        optional_image_fields=_as_tuple(data.get("optional_image_fields")),
        official_format=_optional_ref(path, data, "official_format"),
        hub_format=_optional_ref(path, data, "hub_format"),
        sample=data.get("sample"),
        tag=_as_tuple(data.get("tag")),
        task_alias=data.get("task_alias"),
        output_type=output_type,
        generation_kwargs=base_generation,
        field_types=_parse_field_types(path, data.get("field_types")),
        doc_id_repeats=_parse_repeats(path, data.get("doc_id_repeats", 1)),
        version=metadata["version"],
        metadata=metadata,
    )
