"""``tasks/<benchmark>/benchmark.yaml``: a benchmark's declaration, parsed into :class:`mg_eval.api.Benchmark`.

The file says, as data, what the core would otherwise have to know by name: the judge role, the categories
and sub-score axes, how each score is rebuilt from resampling units, the paper columns the benchmark fills,
and the official prediction formats ``mg-eval score`` reads (whose functions are ``!function`` references
into the folder, imported on first use). Keys are documented in ``docs/tasks.md`` ("benchmark.yaml").

A category-set name may stand for its categories wherever categories are listed (``strata``, ``requires``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.api import Benchmark, ExportFormat, JudgeRole, PaperColumn, PredictionFormat, UnitSpec
from mg_eval.errors import UserInputError
from mg_eval.tasks.config import FunctionRef, TaskConfig, load_yaml, parse_config

__all__ = ["DECLARATION_FILE", "parse_benchmark", "read_declaration"]

DECLARATION_FILE = "benchmark.yaml"
_KEYS = {"benchmark", "title", "aliases", "judge", "categories", "sub_scores", "units", "units_per_category",
         "paper_columns", "delta_unit", "axis_label", "prediction_formats", "export_formats"}
_UNIT_KEYS = {"unit", "statistic", "scale", "group_by", "group_modulo", "stratify_by", "strata"}
_STATISTICS = ("mean", "all_of_group", "acc_plus")
_COLUMN_KEYS = {"key", "header", "position", "score", "scale", "requires_field", "requires", "tasks", "in_paper"}
_FORMAT_KEYS = {"name", "task", "primary_metric", "description", "detect", "read", "aggregate", "to_samples",
                "needs_judge", "priority", "example"}
_EXAMPLE_KEYS = {"path", "annotation"}
_FORMAT_FUNCTIONS = ("detect", "read", "aggregate", "to_samples")
_EXPORT_KEYS = {"name", "tasks", "description", "submit_to", "suffix", "write"}


def _strings(path: Path, where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"{path}: {where} must be a list of strings, got {value!r:.80}.")
    return tuple(value)


def _mapping(path: Path, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserInputError(f"{path}: {where} must be a mapping, got {type(value).__name__}.")
    return value


def _check_keys(path: Path, where: str, entry: Mapping, allowed: set[str]) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise UserInputError(f"{path}: {where}: unknown key(s) {unknown} (allowed: {', '.join(sorted(allowed))}).")


def _expand(names: tuple[str, ...], categories: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Category-set names -> their categories (other names stay), order kept."""
    out: list[str] = []
    for name in names:
        out.extend(categories.get(name, (name,)))
    return tuple(out)


def _unit(path: Path, where: str, entry: Any, categories: Mapping[str, tuple[str, ...]]) -> UnitSpec:
    entry = _mapping(path, where, entry)
    _check_keys(path, where, entry, _UNIT_KEYS)
    if "unit" not in entry:
        raise UserInputError(f"{path}: {where}: 'unit' (what is resampled, e.g. question) is required.")
    statistic = entry.get("statistic", "mean")
    if statistic not in _STATISTICS:
        raise UserInputError(f"{path}: {where}: statistic {statistic!r} is not one of {', '.join(_STATISTICS)}.")
    group_by = _strings(path, f"{where}.group_by", entry.get("group_by"))
    if statistic != "mean" and not group_by:
        raise UserInputError(f"{path}: {where}: statistic {statistic} needs 'group_by' (the field of the group).")
    if statistic == "acc_plus" and not (entry.get("stratify_by") and entry.get("strata")):
        raise UserInputError(f"{path}: {where}: statistic acc_plus needs 'stratify_by' and 'strata'.")
    return UnitSpec(unit=str(entry["unit"]), statistic=statistic, scale=float(entry.get("scale", 100.0)),
                    group_by=group_by, group_modulo=entry.get("group_modulo"),
                    stratify_by=entry.get("stratify_by"),
                    strata=_expand(_strings(path, f"{where}.strata", entry.get("strata")), categories))


def _units(path: Path, data: dict[str, Any], categories: Mapping[str, tuple[str, ...]]) -> dict[str, UnitSpec]:
    units = {str(key): _unit(path, f"units.{key}", entry, categories)
             for key, entry in _mapping(path, "units", data.get("units")).items()}
    per_category = data.get("units_per_category")
    if per_category is not None:  # every category is also a score key, built from its own stratum
        for values in categories.values():
            for category in values:
                units.setdefault(category, _unit(path, "units_per_category",
                                                 {**per_category, "strata": [category]}, categories))
    return units


def _column(path: Path, i: int, entry: Any, categories: Mapping[str, tuple[str, ...]]) -> PaperColumn:
    where = f"paper_columns[{i}]"
    entry = _mapping(path, where, entry)
    _check_keys(path, where, entry, _COLUMN_KEYS)
    for key in ("key", "header", "position"):
        if key not in entry:
            raise UserInputError(f"{path}: {where}: '{key}' is required.")
    if entry.get("scale", "percent") not in ("percent", "points"):
        raise UserInputError(f"{path}: {where}: scale must be percent or points.")
    if not isinstance(entry.get("in_paper", True), bool):
        raise UserInputError(f"{path}: {where}: in_paper must be true or false.")
    return PaperColumn(key=str(entry["key"]), header=str(entry["header"]), position=int(entry["position"]),
                       score=entry.get("score"), scale=entry.get("scale", "percent"),
                       requires_field=entry.get("requires_field"),
                       requires=_expand(_strings(path, f"{where}.requires", entry.get("requires")), categories),
                       tasks=_strings(path, f"{where}.tasks", entry.get("tasks")),
                       in_paper=entry.get("in_paper", True))


def _columns(path: Path, entries: list, categories: Mapping[str, tuple[str, ...]],
             primary_metrics: Mapping[str, str] | None) -> tuple[PaperColumn, ...]:
    """The paper columns; a column's ``tasks`` must be tasks of the folder (when those are known)."""
    columns = tuple(_column(path, i, entry, categories) for i, entry in enumerate(entries))
    for i, column in enumerate(columns):
        strange = [task for task in column.tasks if primary_metrics and task not in primary_metrics]
        if strange:
            raise UserInputError(f"{path}: paper_columns[{i}].tasks: {strange} are not tasks of this folder; "
                                 f"name some of {sorted(primary_metrics or {})}.")
    return columns


def _format(path: Path, i: int, entry: Any, benchmark: str, primary_metrics: Mapping[str, str]) -> PredictionFormat:
    where = f"prediction_formats[{i}]"
    entry = dict(_mapping(path, where, entry))
    _check_keys(path, where, entry, _FORMAT_KEYS)
    # the scorer's own aggregate unless the format scores its records another way
    entry.setdefault("aggregate", FunctionRef("scorer.aggregate", path.parent, path))
    for key in ("name", "task", "description", *_FORMAT_FUNCTIONS):
        if key not in entry:
            raise UserInputError(f"{path}: {where}: '{key}' is required.")
    for key in _FORMAT_FUNCTIONS:
        if not isinstance(entry[key], FunctionRef):
            raise UserInputError(f"{path}: {where}.{key} must be a '!function predictions.{key}' reference.")
    task = str(entry["task"])
    example, annotation = _example(path, where, entry.get("example"))
    primary = entry.get("primary_metric") or primary_metrics.get(task)
    if primary is None:
        raise UserInputError(f"{path}: {where}: task {task!r} is not a task of this folder; name one of "
                             f"{sorted(primary_metrics)} or give 'primary_metric'.")
    return PredictionFormat(name=str(entry["name"]), benchmark=benchmark, task=task, primary_metric=str(primary),
                            description=str(entry["description"]), detect=entry["detect"], read=entry["read"],
                            aggregate=entry["aggregate"], to_samples=entry["to_samples"],
                            needs_judge=bool(entry.get("needs_judge", False)),
                            priority=int(entry.get("priority", 100)), example=example,
                            example_annotation=annotation)


def _example(path: Path, where: str, entry: Any) -> tuple[Path | None, Path | None]:
    """``example: {path, annotation}`` of a prediction format, as paths inside the benchmark folder."""
    entry = _mapping(path, f"{where}.example", entry)
    if not entry:
        return None, None
    _check_keys(path, f"{where}.example", entry, _EXAMPLE_KEYS)
    if "path" not in entry:
        raise UserInputError(f"{path}: {where}.example: 'path' (a file of this format in the folder) is required.")
    files = []
    for key in ("path", "annotation"):
        if entry.get(key) is None:
            files.append(None)
            continue
        file = (path.parent / str(entry[key])).resolve()
        if not file.is_relative_to(path.parent):
            raise UserInputError(f"{path}: {where}.example.{key}: {entry[key]!r} leaves the benchmark folder.")
        files.append(file)
    return files[0], files[1]


def _export(path: Path, i: int, entry: Any, benchmark: str) -> ExportFormat:
    where = f"export_formats[{i}]"
    entry = _mapping(path, where, entry)
    _check_keys(path, where, entry, _EXPORT_KEYS)
    for key in sorted(_EXPORT_KEYS):
        if key not in entry:
            raise UserInputError(f"{path}: {where}: '{key}' is required.")
    if not isinstance(entry["write"], FunctionRef):
        raise UserInputError(f"{path}: {where}.write must be a '!function exports.<name>' reference.")
    return ExportFormat(name=str(entry["name"]), benchmark=benchmark,
                        tasks=_strings(path, f"{where}.tasks", entry["tasks"]),
                        description=str(entry["description"]), submit_to=str(entry["submit_to"]),
                        suffix=str(entry["suffix"]), write=entry["write"])


def _judge(path: Path, value: Any) -> JudgeRole | None:
    if value is None:
        return None
    value = _mapping(path, "judge", value)
    _check_keys(path, "judge", value, {"role", "paper"})
    if not value.get("role") or not value.get("paper"):
        raise UserInputError(f"{path}: judge needs 'role' (what it does) and 'paper' (the paper's judge spec), "
                             "or 'judge: null' for LLM-free scoring.")
    return JudgeRole(role=str(value["role"]), paper=str(value["paper"]))


def parse_benchmark(path: Path, primary_metrics: Mapping[str, str] | None = None) -> Benchmark:
    """Validate one ``benchmark.yaml``.

    Args:
        path: the file (its folder is the benchmark folder; ``benchmark:`` must be the folder's name).
        primary_metrics: task name -> primary metric of the folder's tasks (for the prediction formats).

    Raises:
        UserInputError: an unknown key, a missing one or a value of the wrong type; the message names the
            file and the key.
    """
    path = Path(path).resolve()
    data = load_yaml(path)
    _check_keys(path, "top level", data, _KEYS)
    name = data.get("benchmark")
    if name != path.parent.name:
        raise UserInputError(f"{path}: 'benchmark: {name}' must be the folder's name ({path.parent.name!r}); "
                             "tasks name their benchmark by folder.")
    categories = {str(k): _strings(path, f"categories.{k}", v)
                  for k, v in _mapping(path, "categories", data.get("categories")).items()}
    sub_scores = {str(k): _strings(path, f"sub_scores.{k}", v)
                  for k, v in _mapping(path, "sub_scores", data.get("sub_scores")).items()}
    columns = data.get("paper_columns") or []
    formats = data.get("prediction_formats") or []
    exports = data.get("export_formats") or []
    if not isinstance(columns, list) or not isinstance(formats, list) or not isinstance(exports, list):
        raise UserInputError(f"{path}: paper_columns, prediction_formats and export_formats must be lists.")
    paper_columns = _columns(path, columns, categories, primary_metrics)
    return Benchmark(
        name=name, title=str(data.get("title", name)), folder=path.parent,
        aliases=_strings(path, "aliases", data.get("aliases")), judge=_judge(path, data.get("judge")),
        categories=categories, sub_scores=sub_scores, units=_units(path, data, categories),
        paper_columns=paper_columns,
        delta_unit=str(data.get("delta_unit", "points")), axis_label=data.get("axis_label"),
        prediction_formats=tuple(_format(path, i, f, name, primary_metrics or {}) for i, f in enumerate(formats)),
        export_formats=tuple(_export(path, i, e, name) for i, e in enumerate(exports)),
    )


@functools.lru_cache(maxsize=64)
def read_declaration(folder: str | Path) -> Benchmark:
    """The declaration of the benchmark folder ``folder`` (for the folder's own modules, e.g. its categories).

    Raises:
        UserInputError: no ``benchmark.yaml`` in the folder, or an invalid one.
    """
    path = Path(folder) / DECLARATION_FILE
    if not path.is_file():
        raise UserInputError(f"{path}: not found; a benchmark folder declares itself in {DECLARATION_FILE}.")
    return parse_benchmark(path, folder_primary_metrics(Path(folder)))


def folder_primary_metrics(folder: Path) -> dict[str, str]:
    """Task name -> primary metric of the task YAMLs directly in ``folder``."""
    metrics: dict[str, str] = {}
    for yaml_file in sorted(folder.glob("*.yaml")):
        if yaml_file.name.startswith("_") or yaml_file.name == DECLARATION_FILE:
            continue
        config = parse_config(yaml_file)
        if isinstance(config, TaskConfig):
            metrics[config.task] = config.metric_list[0].metric
    return metrics
