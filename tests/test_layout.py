"""The layout rules of docs/architecture.md, checked on the source: the core names no benchmark, has no import
cycle (lazy imports included), keeps its modules small and defines each shared constant once."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from test_model_layout import find_cycle  # the one cycle finder of the layout tests

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "mg_eval"
BENCHMARK_NAMES = re.compile(r"textvqa|mmbench|mmmu|mathvista|mm-?vet|\bmme\b", re.IGNORECASE)
#: Assignments whose strings are not about benchmarks: the names of training-data sources (``share_textvqa`` is a
#: ShareGPT4V subset) in the ablation spec's list of stage-2 data mixtures.
ALLOWED_ASSIGNMENTS = {("mg_eval.ablation.spec", "DATA_SOURCES")}


def _modules() -> dict[str, Path]:
    modules = {}
    for file in CORE.rglob("*.py"):
        name = ".".join(file.relative_to(REPO).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = file
    return modules


def _docstring_nodes(tree: ast.AST, module: str) -> set[int]:
    """ids of the docstring constants (and of the strings of :data:`ALLOWED_ASSIGNMENTS`) of a module."""
    ids = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and (module, t.id) in ALLOWED_ASSIGNMENTS for t in targets):
            ids.update(id(sub) for sub in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_the_core_names_no_benchmark_outside_docs() -> None:
    """Identifiers and strings of mg_eval/ (docstrings and comments aside) hold no benchmark name."""
    hits = []
    for name, file in _modules().items():
        tree = ast.parse(file.read_text(encoding="utf-8"))
        docstrings = _docstring_nodes(tree, name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            elif isinstance(node, ast.Name):
                text = node.id
            elif isinstance(node, ast.Attribute):
                text = node.attr
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                text = node.name
            else:
                continue
            if BENCHMARK_NAMES.search(text):
                hits.append(f"{name}:{node.lineno}: {text[:60]!r}")
    assert not hits, "benchmark names in the core:\n" + "\n".join(hits)


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, file in modules.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):  # nested (lazy) imports too
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                resolved = resolve(target) if target.startswith("mg_eval") else None
                if not resolved:
                    continue
                parts = resolved.split(".")
                for i in range(1, len(parts) + 1):  # importing a module initialises its packages first
                    module = ".".join(parts[:i])
                    if module in modules and module != name and not name.startswith(module + "."):
                        graph[name].add(module)
    return graph


def test_no_import_cycle_in_the_core() -> None:
    cycle = find_cycle(_import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_core_modules_stay_small() -> None:
    sizes = {name: len(file.read_text(encoding="utf-8").splitlines()) for name, file in _modules().items()}
    assert {name: n for name, n in sizes.items() if n > 500} == {}


def test_shared_constants_are_defined_once() -> None:
    """PROTOCOLS and GENERATION_KEYS are assigned in mg_eval/api.py only (everything else imports them)."""
    where: dict[str, list[str]] = {"PROTOCOLS": [], "GENERATION_KEYS": []}
    for name, file in _modules().items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id.lstrip("_") in where:
                    where[target.id.lstrip("_")].append(name)
    assert where == {"PROTOCOLS": ["mg_eval.api"], "GENERATION_KEYS": ["mg_eval.api"]}


def test_every_benchmark_folder_has_its_readme_and_declaration() -> None:
    """Each ``tasks/<benchmark>/`` holding a task YAML also holds ``README.md`` (source, revision, protocols,
    changelog) and ``benchmark.yaml`` (the declaration, naming that folder)."""
    from mg_eval.tasks.benchmark import read_declaration

    folders = sorted({path.parent for path in (REPO / "tasks").glob("*/*.yaml")})
    assert len(folders) >= 10
    missing = [f"{folder.name}/{name}" for folder in folders for name in ("README.md", "benchmark.yaml")
               if not (folder / name).is_file()]
    assert missing == []
    for folder in folders:
        assert read_declaration(folder).name == folder.name  # parsed and checked as the registry does


#: The old import paths of the results room, kept as pure re-exports for external code (docs/architecture.md).
RESULTS_SHIMS = {"mg_eval.engine.results", "mg_eval.engine.store"}
RUN_FILE_NAME = re.compile(r"^\S*(results\.json|samples\.jsonl)$")
RUN_FILE_CONSTANTS = {"RESULTS_FILE", "SAMPLES_FILE", "find_runs"}


def _is_reexport(tree: ast.Module) -> bool:
    """A module holding only its docstring, imports from ``mg_eval.results`` and ``__all__``."""
    for position, node in enumerate(tree.body):
        if position == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and (node.module == "__future__" or
                                                 (node.module or "").startswith("mg_eval.results")):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        return False
    return True


def _run_file_paths(tree: ast.AST) -> list[ast.Constant]:
    """String constants naming a run file that are used as a path: joined with ``/``, passed to a call (``glob``,
    ``open``, ``Path``), assigned or compared (a parameter's default label in a message is not a path)."""
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and RUN_FILE_NAME.match(node.value.strip())):
            continue
        parent = parents.get(id(node))
        while isinstance(parent, ast.JoinedStr | ast.FormattedValue):
            parent = parents.get(id(parent))
        if isinstance(parent, ast.Call | ast.Assign | ast.AnnAssign | ast.Compare | ast.keyword) or (
                isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div)):
            found.append(node)
    return found


def _run_id_orderings(tree: ast.AST) -> list[ast.Compare]:
    """Comparisons that order run ids (``a["run_id"] > b["run_id"]``, ``run.run_id < other``): picking the newest
    run by hand instead of through ``mg_eval.results.newest_per``."""
    def names_run_id(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "run_id") or (
            isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "run_id")

    ordering = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)
    return [node for node in ast.walk(tree) if isinstance(node, ast.Compare)
            and any(isinstance(op, ordering) for op in node.ops)
            and any(names_run_id(part) or any(names_run_id(sub) for sub in ast.walk(part))
                    for part in [node.left, *node.comparators])]


def _imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The modules (and ``module.name`` candidates) an import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    return {base} | {f"{base}.{alias.name}" for alias in node.names}


def test_one_run_collector() -> None:
    """Only mg_eval/results/ names the run files (results.json, samples.jsonl) as paths or looks for them: every
    other reader finds runs through mg_eval.results (collect_runs / open_run / run_files) and picks the newest
    through newest_per. The old engine paths are pure re-exports that nothing in mg_eval imports."""
    hits = []
    for name, file in _modules().items():
        if name == "mg_eval.results" or name.startswith("mg_eval.results."):
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        if name in RESULTS_SHIMS:
            assert _is_reexport(tree), f"{name} must stay a pure re-export of mg_eval.results"
            continue
        for node in _run_file_paths(tree):
            hits.append(f"{name}:{node.lineno}: the path {node.value!r}")
        for node in _run_id_orderings(tree):
            hits.append(f"{name}:{node.lineno}: picks the newest run by hand (use mg_eval.results.newest_per)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and _imported(node) & RESULTS_SHIMS:
                hits.append(f"{name}:{node.lineno}: imports the re-export module {sorted(_imported(node) & RESULTS_SHIMS)}")
            elif isinstance(node, ast.ImportFrom) and {alias.name for alias in node.names} & RUN_FILE_CONSTANTS:
                hits.append(f"{name}:{node.lineno}: imports {sorted({a.name for a in node.names} & RUN_FILE_CONSTANTS)}")
    assert not hits, "run files found outside mg_eval/results/:\n" + "\n".join(hits)


#: the flags several commands share (mg_eval/cli/shared_flags.py): defined there only, one meaning each
SHARED_FLAGS = ("--output", "--seed", "--resamples", "--reference")


def test_each_shared_flag_is_defined_in_one_place() -> None:
    """No command spells ``add_argument("--output", ...)`` (or --seed / --resamples / --reference) itself: it calls
    the helper of mg_eval.cli.shared_flags, so each flag has one definition and one meaning."""
    where: dict[str, set[str]] = {flag: set() for flag in SHARED_FLAGS}
    for name, file in _modules().items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and arg.value in where:
                        where[arg.value].add(name)
    assert where == {flag: {"mg_eval.cli.shared_flags"} for flag in SHARED_FLAGS}
