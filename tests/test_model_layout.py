"""The shape of ``mg_model``: one folder per concern with one-way imports between them, no import cycles (lazy
imports included), one home per constant, small modules.

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
    assert "mg_model.checkpoint.loading" in graph and "mg_model.modeling_mgm" in graph["mg_model"]
    assert "mg_model.checkpoint.loading" in graph["mg_model.modeling_mgm"]  # the model imports its loader, not the reverse
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


#: The rooms of ``mg_model`` and what each holds (docs/architecture.md, docs/model.md#where-the-code-is).
#: A new module goes into the room of its concern, and into this table.
ROOMS = {
    # the architecture: what MGM is (config, vision path, model, templates, processing)
    "": {"constants", "errors", "configuration_mgm", "variants", "vision", "mining", "vision_path", "modeling_mgm",
         "registration", "hf_compat", "conversation", "image_processing", "slow_tokenizer", "processing_mgm",
         "generation_image", "tiny"},
    "checkpoint": {"loading", "dirs", "tensors", "saving", "tokenizer_files"},
    "generation": {"fast_decode", "sampling", "feature_cache", "prefix_sharing", "continuous", "vision_chunks"},
    "vllm": {"model", "processing", "chat_template"},
    "train": {"config", "setup", "trainer", "distributed", "deepspeed_config", "stages", "data", "synthetic",
              "encoder_pretrain", "text_warmup"},
}
#: Former homes kept for the paths the docs gave users; each only re-exports its room's module.
FORMER_HOMES = {"mg_model.fast_decode": "mg_model.generation.fast_decode", "mg_model.loading": "mg_model.checkpoint.loading"}
#: The architecture modules checkpoint I/O may use: the config it builds, the errors it raises, shared constants.
CHECKPOINT_MAY_IMPORT = {"mg_model.configuration_mgm", "mg_model.errors", "mg_model.constants"}


def _room_of(module: str) -> str:
    """``mg_model.checkpoint.loading`` -> ``checkpoint``; a top-level module -> ``""`` (the architecture)."""
    parts = module.split(".")[1:]
    return parts[0] if parts and parts[0] in ROOMS else ""


def test_every_module_lives_in_its_stated_room() -> None:
    found: dict[str, set[str]] = {room: set() for room in ROOMS}
    for name in module_files(PACKAGE):
        parts = name.split(".")[1:]
        if not parts or name in FORMER_HOMES or (len(parts) == 1 and parts[0] in ROOMS):
            continue  # the package, a former home, a room's own __init__
        assert len(parts) == 1 or parts[0] in ROOMS, f"{name}: no room {parts[0]!r}; state it in ROOMS and the docs"
        found[_room_of(name)].add(parts[-1])
    assert found == ROOMS, "mg_model's modules moved; update ROOMS, docs/architecture.md and docs/model.md"


def test_checkpoint_io_imports_no_model_code() -> None:
    """checkpoint/ reads and writes the official layout: no modeling, vision, processing or generation code."""
    for name, imports in import_graph(PACKAGE).items():
        if name.startswith("mg_model.checkpoint"):
            outside = {m for m in imports if not m.startswith("mg_model.checkpoint")} - CHECKPOINT_MAY_IMPORT
            assert not outside, f"{name} imports {sorted(outside)}; checkpoint I/O needs no model code"


def test_generation_imports_the_architecture_only() -> None:
    """generation/ works on a built model: no checkpoint I/O, and not the model module that calls it."""
    for name, imports in import_graph(PACKAGE).items():
        if name.startswith("mg_model.generation"):
            rooms = {_room_of(m) for m in imports}
            assert rooms <= {"", "generation"}, f"{name} imports {sorted(imports)}"
            assert "mg_model.modeling_mgm" not in imports and "mg_model.tiny" not in imports, name


def test_vllm_and_train_are_imported_only_from_inside() -> None:
    """Nothing in the model depends on the vLLM plugin or on training; both sit on top of it."""
    for name, imports in import_graph(PACKAGE).items():
        for room in ("vllm", "train"):
            if not name.startswith(f"mg_model.{room}"):
                inside = sorted(m for m in imports if m.startswith(f"mg_model.{room}"))
                assert not inside, f"{name} imports {inside}"


def test_former_homes_only_re_export() -> None:
    """``mg_model.fast_decode`` / ``mg_model.loading`` hold no code, and give the same objects as the rooms."""
    import importlib

    files = module_files(PACKAGE)
    for old, new in FORMER_HOMES.items():
        tree = ast.parse(files[old].read_text(encoding="utf-8"))
        assert not [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))], old
        old_module, new_module = importlib.import_module(old), importlib.import_module(new)
        assert old_module.__all__ and set(old_module.__all__) <= set(dir(new_module))
        assert all(getattr(old_module, key) is getattr(new_module, key) for key in old_module.__all__), old
    from mg_model.fast_decode import DecodeOptions
    from mg_model.generation.fast_decode import DecodeOptions as moved

    assert DecodeOptions is moved


def _module_level_assignments(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names
