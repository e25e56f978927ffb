"""The layout rules of benchmark folders (docs/tasks.md, "What a benchmark folder holds"): no glue. A folder holds
no forwarder functions, and its YAML files repeat no default the core already applies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mg_eval.tasks.config import DEFAULT_HUB_REVISION, FunctionRef, load_yaml
from mg_eval.tasks.task import GENERATION_DEFAULTS

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "tasks"


def _imported_names(tree: ast.Module) -> set[str]:
    """Names a module binds by importing (modules and functions of other modules)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _defined_names(tree: ast.Module) -> set[str]:
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def forwarders(source: str) -> list[str]:
    """Top-level functions whose body (docstring aside) only returns a call of another function (``f`` or
    ``module.f``, imported or defined in the module) with the function's own parameters passed on unchanged."""
    tree = ast.parse(source)
    callees = _imported_names(tree) | _defined_names(tree)
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        body = node.body[1:] if ast.get_docstring(node) is not None else node.body
        if len(body) != 1 or not isinstance(body[0], ast.Return) or not isinstance(body[0].value, ast.Call):
            continue
        call = body[0].value
        root = call.func
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or root.id not in callees:
            continue
        params = {arg.arg for arg in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
        passed = [*call.args, *(keyword.value for keyword in call.keywords)]
        if all(isinstance(value, ast.Name) and value.id in params for value in passed):
            found.append(node.name)
    return found


def test_the_forwarder_check_finds_forwarders() -> None:
    source = ("from . import scorer\nfrom .x import g\nT = 'a{b}'\n"
              "def aggregate(records, judge=None):\n    '''doc'''\n    return scorer.aggregate(records)\n"
              "def read(path, options):\n    return g(path, options=options)\n"
              "def adapt(doc, response):\n    return scorer.process_result(doc['id'], response)\n"
              "def fill(b):\n    return T.format(b=b)\n"
              "def two(x):\n    y = x + 1\n    return g(y)\n")
    assert forwarders(source) == ["aggregate", "read"]


def test_benchmark_folders_hold_no_forwarder_functions() -> None:
    """A function that only hands its arguments to another is glue: name the other function in the YAML instead
    (hooks get only the arguments they declare)."""
    hits = [f"{file.relative_to(REPO)}: {name}" for file in sorted(TASKS.glob("*/*.py"))
            for name in forwarders(file.read_text(encoding="utf-8"))]
    assert hits == []


def _task_yamls() -> list[Path]:
    return sorted(path for path in TASKS.glob("*/*.yaml") if path.name != "benchmark.yaml")


def _repeated_defaults(path: Path) -> list[str]:
    """Keys of one task YAML (includes merged) that state what the core applies anyway."""
    data = load_yaml(path)
    repeated = []
    if (data.get("dataset_kwargs") or {}).get("revision") == DEFAULT_HUB_REVISION:
        repeated.append(f"dataset_kwargs.revision: {DEFAULT_HUB_REVISION}")
    for protocol, spec in (data.get("protocols") or {}).items():
        if (spec.get("prompt") or {}).get("style") == protocol:
            repeated.append(f"protocols.{protocol}.prompt.style")
        for key, value in (spec.get("generation_kwargs") or {}).items():
            default = GENERATION_DEFAULTS.get(key, ...)
            if key != "max_new_tokens" and value == default and isinstance(value, bool) == isinstance(default, bool):
                repeated.append(f"protocols.{protocol}.generation_kwargs.{key}")
    entries = [entry for entry in data.get("metric_list") or [] if isinstance(entry, dict)]
    for entry in entries:
        if entry.get("higher_is_better") is True:
            repeated.append(f"metric_list {entry.get('metric')}: higher_is_better: true")
        if isinstance(data.get("aggregate"), FunctionRef) and entry.get("aggregation") == data["aggregate"]:
            repeated.append(f"metric_list {entry.get('metric')}: the task's aggregate")
    aggregations = [entry["aggregation"].dotted for entry in entries if "aggregation" in entry]
    if len(aggregations) > 1 and len(set(aggregations)) == 1:
        repeated.append(f"metric_list: every entry names {aggregations[0]} (set the task's 'aggregate' once)")
    return repeated


def test_task_yamls_repeat_no_default() -> None:
    """Defaults every task shares live once, in the core: the prompt style (the protocol's name), the hub revision,
    the generation defaults, ``higher_is_better: true`` and one aggregate for all metrics."""
    hits = [f"{path.relative_to(REPO)}: {key}" for path in _task_yamls() for key in _repeated_defaults(path)]
    assert hits == []


def test_prediction_formats_do_not_repeat_the_scorer_aggregate() -> None:
    """A prediction format scores with ``scorer.aggregate`` unless it names another function."""
    hits = []
    for path in sorted(TASKS.glob("*/benchmark.yaml")):
        for entry in load_yaml(path).get("prediction_formats") or []:
            if isinstance(entry.get("aggregate"), FunctionRef) and entry["aggregate"].dotted == "scorer.aggregate":
                hits.append(f"{path.relative_to(REPO)}: {entry.get('name')}")
    assert hits == []


@pytest.mark.parametrize("text, expected", [
    ("protocols: {mgm: {prompt: {style: mgm}}, lmms: {prompt: {style: plain}}}", ["protocols.mgm.prompt.style"]),
    ("protocols: {mgm: {generation_kwargs: {do_sample: false, top_p: null, num_beams: 2, temperature: 0}}}",
     ["protocols.mgm.generation_kwargs.do_sample", "protocols.mgm.generation_kwargs.top_p",
      "protocols.mgm.generation_kwargs.temperature"]),
    ("dataset_kwargs: {revision: main}", ["dataset_kwargs.revision: main"]),
    ("metric_list:\n  - {metric: a, aggregation: !function s.agg}\n  - {metric: b, aggregation: !function s.agg}",
     ["metric_list: every entry names s.agg (set the task's 'aggregate' once)"]),
    ("metric_list: [{metric: a, higher_is_better: true}, {metric: b, higher_is_better: false}]",
     ["metric_list a: higher_is_better: true"]),
])
def test_the_repeated_default_check_finds_repeats(tmp_path, text, expected) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    assert _repeated_defaults(path) == expected
