"""The shape of ``mg_model``: no import cycles (lazy imports included), one home per constant, small modules.

Read from the source with ``ast`` (no module is imported), so a function-level import counts like a
top-level one: a cycle hidden behind a lazy import is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "mg_model"
MAX_MODULE_LINES = 500


def module_files(package: str, root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` of ``package`` (``__init__`` = the package itself)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports anywhere in its file (top level or inside functions)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & known
            found.update(submodules or {target})
    return {module for module in found if module in known and module != name}


def import_graph(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    files = module_files(package, root)
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_sees_a_lazy_cycle(tmp_path: Path) -> None:
    """The checker itself: a cycle through a function-level import is found; a chain is not a cycle."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from .a import f\n")
    (package / "a.py").write_text("def f():\n    from .sub.b import g\n    return g\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("import json\n\ndef g():\n    return 1\n")
    graph = import_graph("pkg", tmp_path)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(), "pkg.sub.b": set()}
    assert find_cycle(graph) is None
    (package / "sub" / "b.py").write_text("def g():\n    from .. import a\n    return a\n")
    assert find_cycle(import_graph("pkg", tmp_path)) == ["pkg.a", "pkg.sub.b", "pkg.a"]


def test_mg_model_has_no_import_cycles() -> None:
    graph = import_graph(PACKAGE)
    assert "mg_model.loading" in graph and "mg_model.modeling_mgm" in graph["mg_model"]
    assert "mg_model.loading" in graph["mg_model.modeling_mgm"]  # the model imports its loader, not the reverse
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in mg_model (lazy imports count): " + " -> ".join(cycle or [])


def test_shared_constants_are_defined_once() -> None:
    """Every module-level name of ``mg_model/constants.py`` is assigned nowhere else in ``mg_model``."""
    files = module_files(PACKAGE)
    shared = _module_level_assignments(files["mg_model.constants"])
    assert {"IMAGE_TOKEN_INDEX", "IGNORE_INDEX", "DEFAULT_IMAGE_TOKEN", "OPENAI_CLIP_MEAN"} <= shared
    for name, path in files.items():
        if name != "mg_model.constants":
            again = sorted(shared & _module_level_assignments(path))
            assert not again, f"{path.relative_to(ROOT)} defines {again} again; import them from mg_model.constants"


def test_error_classes_have_one_home() -> None:
    files = module_files(PACKAGE)
    for name, path in files.items():
        classes = [node.name for node in ast.parse(path.read_text(encoding="utf-8")).body
                   if isinstance(node, ast.ClassDef) and node.name.endswith("Error")]
        assert name == "mg_model.errors" or not classes, f"{path.relative_to(ROOT)} defines {classes}"


def test_no_module_is_over_the_size_limit() -> None:
    for path in module_files(PACKAGE).values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by concern"


def test_old_import_locations_still_work() -> None:
    """Names other code imports from the modules they lived in before the split."""
    from mg_model import errors
    from mg_model.configuration_mgm import MGMConfigError
    from mg_model.conversation import IMAGE_TOKEN_INDEX, MGMInputError
    from mg_model.loading import CLIP_PREFIX, CheckpointError, resolve_encoder_dir, save_mgm
    from mg_model.modeling_mgm import IGNORE_INDEX
    from mg_model.processing_mgm import (
        TINY_TOKENIZER_DIR,
        SlowLlamaTokenization,
        tokenizer_from_sentencepiece,
    )
    from mg_model.train.data import TrainingInputError

    assert (CheckpointError, MGMConfigError, MGMInputError, TrainingInputError) == (
        errors.CheckpointError, errors.MGMConfigError, errors.MGMInputError, errors.TrainingInputError)
    assert all(issubclass(cls, errors.MGMError) for cls in (CheckpointError, MGMConfigError, MGMInputError))
    assert issubclass(CheckpointError, RuntimeError) and issubclass(MGMInputError, ValueError)
    assert (IMAGE_TOKEN_INDEX, IGNORE_INDEX, CLIP_PREFIX) == (-200, -100, "model.vision_tower.vision_tower.vision_model.")
    assert TINY_TOKENIZER_DIR.is_dir() and callable(resolve_encoder_dir) and callable(save_mgm)
    assert SlowLlamaTokenization and tokenizer_from_sentencepiece


def _module_level_assignments(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names
