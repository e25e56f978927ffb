"""The wheel works outside the checkout: build it, install it non-editable, run the CLI from another folder.

The wheel is built from a copy of the package sources (``pip wheel --no-deps --no-build-isolation``) and
installed into a throwaway virtual environment whose dependencies come from this environment's site-packages
(a ``.pth`` line per site-packages folder: no download, and no ``.pth`` of this environment runs there, so the
editable install of the checkout is invisible). ``mg-eval tasks``, ``validate`` and ``demo`` then run with
another working directory, and every module and task file must come from the installed wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: what the wheel is built from (the rest of the checkout is not part of the package)
SOURCES = ("pyproject.toml", "README.md", "mg_model", "mg_eval", "tasks")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".store", "*.egg-info")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _source_files() -> set[str]:
    """Paths (as in the wheel) of every file the package needs: modules, task files, data."""
    files = set()
    for top, name in (("mg_model", "mg_model"), ("mg_eval", "mg_eval"), ("tasks", "mg_tasks")):
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc" and ".store" not in path.parts:
                files.add(f"{name}/{path.relative_to(REPO / top).as_posix()}")
    return files


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> dict:
    """Build the wheel, install it into a fresh venv; returns the venv's python, bin folder and a work dir."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        target = src / name
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, target, ignore=IGNORED)
        else:
            shutil.copy2(REPO / name, target)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"),
          str(src)], cwd=root)
    (wheel,) = (root / "dist").glob("mini_gemini_eval-*.whl")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).strip())
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "deps.pth").write_text("\n".join(ours) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], cwd=root)
    work = root / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HOME=str(root / "home"))
    return {"wheel": wheel, "python": python, "bin": root / "venv" / "bin", "work": work, "env": env,
            "site": site}


def test_wheel_holds_every_module_task_and_data_file(wheel_env):
    names = set(zipfile.ZipFile(wheel_env["wheel"]).namelist())
    missing = sorted(_source_files() - names)
    assert not missing, f"files of the source tree missing from the wheel (pyproject packages / package-data): {missing}"
    assert not any(name.startswith(("tests/", "results/", "ablations/")) for name in names)


def test_installed_package_is_the_wheel_not_the_checkout(wheel_env):
    code = ("import json, mg_eval, mg_model, mg_tasks; from mg_eval.tasks.registry import TASKS_ROOT; "
            "from mg_eval.cli.plot import DEFAULT_REFERENCE; from mg_eval.engine.results import git_sha; "
            "print(json.dumps([mg_eval.__file__, mg_model.__file__, str(TASKS_ROOT), str(DEFAULT_REFERENCE), "
            "DEFAULT_REFERENCE.is_file(), git_sha()]))")
    out = json.loads(_run([str(wheel_env["python"]), "-c", code], cwd=wheel_env["work"], env=wheel_env["env"]))
    site = str(wheel_env["site"])
    assert all(path.startswith(site) for path in out[:4]), out
    assert Path(out[2]).name == "mg_tasks"
    assert out[4] is True  # the paper's reference CSV ships with the package
    assert out[5] is None  # no source tree: no git SHA (never the SHA of an enclosing repository)


def test_installed_package_reads_the_zoo_mapping_from_the_wheel(wheel_env):
    code = ("import json; from mg_eval.analysis import zoo; "
            "print(json.dumps([str(zoo.DEFAULT_MAPPING), [e.label for e in zoo.load_zoo()]]))")
    mapping, labels = json.loads(_run([str(wheel_env["python"]), "-c", code], cwd=wheel_env["work"],
                                      env=wheel_env["env"]))
    assert mapping.startswith(str(wheel_env["site"]))
    assert len(labels) == 8 and "LLaVA-1.5-7B (LLaVA Model Zoo)" in labels  # both zoo tables + mapping shipped


def test_cli_tasks_validate_demo_from_another_directory(wheel_env):
    mg_eval_cmd = str(wheel_env["bin"] / "mg-eval")
    work, env = wheel_env["work"], wheel_env["env"]
    listing = _run([mg_eval_cmd, "tasks"], cwd=work, env=env)
    for name in ("textvqa_val", "mme", "mmbench_en_dev", "mmvet", "mmmu_val", "mathvista_testmini", "mgm_paper"):
        assert name in listing
    _run([mg_eval_cmd, "validate"], cwd=work, env=env)
    out = _run([mg_eval_cmd, "demo", "--output", str(work / "demo"), "--num-workers", "0",
                "--max-new-tokens-cap", "4"], cwd=work, env=env)
    results = sorted((work / "demo").rglob("results.json"))
    tasks = {json.loads(path.read_text())["task"]["name"] for path in results}
    assert {"textvqa_val", "mme", "mmbench_en_dev", "mmvet", "mmmu_val", "mathvista_testmini"} <= tasks, (tasks, out)
