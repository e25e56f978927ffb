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
