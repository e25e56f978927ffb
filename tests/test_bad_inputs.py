"""Every bad input in tests/cases/bad_inputs.yaml ends in one `error:` line, exit code 2, no traceback.

Each case builds its bad input in a fresh folder from the bundled sample data / the tiny checkpoint
(the setup steps below), runs ``mg_eval.cli.main.main`` in-process and checks: exit code 2, exactly one
``error:`` line naming the file/field/sample and the fix (the case's words), no traceback, that no model
was loaded unless the case says the error comes from loading it, and that stored predictions survived.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_fakes import count_model_loads

from mg_eval.cli.main import main

REPO = Path(__file__).resolve().parent.parent
CASES = yaml.safe_load((REPO / "tests" / "cases" / "bad_inputs.yaml").read_text(encoding="utf-8"))
RUN_TAIL = ["--no-progress", "--num-workers", "0", "--max-new-tokens-cap", "2"]


def _cli(argv: list[str], stream: str = "stderr") -> tuple[int, str]:
    """(exit code, text written to ``stream``) of an in-process ``mg-eval`` call."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, (err if stream == "stderr" else out).getvalue()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mg_eval.cli.demo import tiny_checkpoint

    with contextlib.redirect_stdout(io.StringIO()):
        return tiny_checkpoint(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def finished(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Output roots of two finished runs on the tiny model: mme (2 samples) and textvqa_val (2 samples)."""
    roots = {}
    for task in ("mme", "textvqa_val"):
        out = tmp_path_factory.mktemp(f"finished-{task}")
        code, err = _cli(["run", "--model", str(tiny), "--tasks", task, "--sample-data", "--limit", "2",
                          "--output", str(out), *RUN_TAIL])
        assert code == 0, err
        roots[task] = out
    return roots


# ------------------------------------------------------------------------------------------- setup steps
def _nested(root: Any, path: list[Any]) -> tuple[Any, Any]:
    """(container, last key) of ``path`` inside a parsed JSON document."""
    for key in path[:-1]:
        root = root[key]
    return root, path[-1]


def _edit_json(file: Path, edit: Callable[[Any], None]) -> None:
    document = json.loads(file.read_text(encoding="utf-8"))
    edit(document)
    file.write_text(json.dumps(document), encoding="utf-8")


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (PIL refuses it on open; no pixels are stored)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b""))


def _truncate_last_planned_image(ctx: dict[str, Any], task_name: str) -> None:
    """Cut the image of the sample generated last (batch size 1) in half: it passes the load-time check."""
    from mg_eval.engine.feed import PlannedSample
    from mg_eval.engine.runner import plan_batches
    from mg_eval.tasks import get_task

    task = get_task(task_name)
    docs = task.load(data_path=str(ctx["data"]))
    samples = [PlannedSample(i, d["doc_id"], d, task.doc_to_text(d, "mgm"), 0, "") for i, d in enumerate(docs)]
    last = plan_batches(samples, 1, False)[-1][0]
    image = Path(docs[last]["image"].path)
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])


def _misshape(ctx: dict[str, Any], part: str) -> None:
    """Rewrite the shard holding the first tensor whose name contains ``part`` with one extra row."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    for shard in sorted(ctx["ckpt"].glob("*.safetensors")):
        with safe_open(str(shard), "pt") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        target = next((name for name in tensors if part in name), None)
        if target is not None:
            tensors[target] = torch.cat([tensors[target], tensors[target][:1]])
            save_file(tensors, str(shard), metadata={"format": "pt"})
            return
    raise AssertionError(f"no tensor named like {part!r} in {ctx['ckpt']}")


def _hold_store_lock(ctx: dict[str, Any], task: str) -> None:
    """Another process holds the store lock (as a running `mg-eval run` does) until the case ends."""
    lock = ctx["out"] / "tiny-mgm" / task / ".store" / "mgm.lock"
    code = ("import fcntl, sys, time; h = open(sys.argv[1], 'w'); fcntl.lockf(h, fcntl.LOCK_EX); "
            "print('locked', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    ctx["cleanup"].append(holder.kill)


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


STEPS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "copy_sample": lambda ctx, task: ctx.update(data=_copy(__import__("mg_eval.tasks", fromlist=["get_task"])
                                                           .get_task(task).sample_path, ctx["tmp"] / "data")),
    "json_set": lambda ctx, a: _edit_json(ctx["data"] / a["file"], lambda d: _nested(d, a["path"])[0].__setitem__(
        _nested(d, a["path"])[1], a["value"])),
    "json_delete": lambda ctx, a: _edit_json(ctx["data"] / a["file"], lambda d: _nested(d, a["path"])[0].pop(
        _nested(d, a["path"])[1])),
    "json_duplicate": lambda ctx, a: _edit_json(ctx["data"] / a["file"], lambda d: _nested(d, a["path"] + [0])[0]
                                                .append({**_nested(d, a["path"] + [0])[0][a["index"]], **a["set"]})),
    "replace_bytes": lambda ctx, a: (ctx["data"] / a["file"]).write_bytes(
        (ctx["data"] / a["file"]).read_bytes().replace(a["old"].encode("latin-1"), a["new"].encode("latin-1"), 1)),
    "cut_file": lambda ctx, a: (ctx["data"] / a["file"]).write_bytes(
        (ctx["data"] / a["file"]).read_bytes()[: int((ctx["data"] / a["file"]).stat().st_size * a["keep"])]),
    "delete": lambda ctx, name: (ctx["data"] / name).unlink(),
    "write_bytes": lambda ctx, a: (ctx["data"] / a["file"]).write_bytes(a["text"].encode("latin-1")),
    "huge_image": lambda ctx, a: (ctx["data"] / a["file"]).write_bytes(_png_header(a["side"], a["side"])),
    "truncate_last_planned_image": _truncate_last_planned_image,
    "tsv_duplicate_row": lambda ctx, a: _edit_tsv(ctx["data"] / a["file"], lambda t: t.iloc[
        list(range(len(t))) + [a["row"]]]),
    "tsv_drop_column": lambda ctx, a: _edit_tsv(ctx["data"] / a["file"], lambda t: t.drop(columns=[a["column"]])),
    "mkdir": lambda ctx, name: (ctx["tmp"] / name).mkdir(),
    "write_file": lambda ctx, a: (ctx["tmp"] / a["file"]).write_text(a["text"], encoding="utf-8"),
    "copy_checkpoint": lambda ctx, _: ctx.update(ckpt=_copy(ctx["ckpt"], ctx["tmp"] / "tiny-mgm")),
    "ckpt_delete": lambda ctx, name: (shutil.rmtree if (ctx["ckpt"] / name).is_dir() else Path.unlink)(
        ctx["ckpt"] / name),
    "ckpt_misshape": _misshape,
    "ckpt_config_set": lambda ctx, values: _edit_json(ctx["ckpt"] / "config.json", lambda d: d.update(values)),
    "ckpt_write": lambda ctx, a: (ctx["ckpt"] / a["file"]).write_text(a["text"], encoding="utf-8"),
    "prior_run": lambda ctx, task: shutil.copytree(ctx["finished"][task], ctx["out"], dirs_exist_ok=True),
    "hold_store_lock": _hold_store_lock,
    "copy_run": lambda ctx, task: ctx.update(run=_copy(
        next(path.parent for path in ctx["finished"][task].rglob("results.json")), ctx["tmp"] / "run")),
    "samples_insert_line": lambda ctx, line: _insert_line(ctx["run"] / "samples.jsonl", 1, line),
    "run_write": lambda ctx, a: (ctx["run"] / a["file"]).write_text(a["text"], encoding="utf-8"),
}


def _edit_tsv(file: Path, edit: Callable[[Any], Any]) -> None:
    import pandas as pd

    edit(pd.read_csv(file, sep="\t", dtype=str, keep_default_na=False)).to_csv(file, sep="\t", index=False)


def _insert_line(file: Path, position: int, line: str) -> None:
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(position, line + "\n")
    file.write_text("".join(lines), encoding="utf-8")


@contextlib.contextmanager
def _counting_model_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every ``MGMForCausalLM.from_pretrained`` call (the expensive step)."""
    yield count_model_loads(monkeypatch)


def _stored_records(out: Path, argv: list[str]) -> list[str]:
    """Lines of the prediction store of the case's task (``--tasks``) under ``out``."""
    if "--tasks" not in argv:
        return []
    store = out / "tiny-mgm" / argv[argv.index("--tasks") + 1] / ".store" / "mgm.jsonl"
    return store.read_text(encoding="utf-8").splitlines() if store.is_file() else []


def test_the_table_holds_at_least_40_distinct_cases() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    assert {case["argv"][0] for case in CASES} >= {"run", "score", "train", "validate", "ablate", "plot"}
    assert all(step_name in STEPS for case in CASES for step in case["setup"] for step_name in step)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_bad_input_gives_one_error_line(case: dict[str, Any], tiny: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    needs_runs = any(name in ("prior_run", "copy_run") for step in case["setup"] for name in step)
    finished = request.getfixturevalue("finished") if needs_runs else {}
    ctx: dict[str, Any] = {"tmp": tmp_path, "ckpt": tiny, "out": tmp_path / "out", "finished": finished,
                           "data": tmp_path / "data", "run": tmp_path / "run", "cleanup": []}
    try:
        for step in case["setup"]:
            (name, argument), = step.items()
            STEPS[name](ctx, argument)
        stored_before = _stored_records(ctx["out"], case["argv"])
        values = {key: str(ctx[key]) for key in ("tmp", "ckpt", "out", "data", "run")} | {"repo": str(REPO)}
        argv = [item.format(**values) for item in case["argv"]]
        if argv[0] == "run":  # the tail first: a case's own --num-workers / --max-new-tokens-cap wins
            argv = [argv[0], *RUN_TAIL, *argv[1:]]
        with _counting_model_loads(monkeypatch) as loads:
            code, err = _cli(argv, case.get("stream", "stderr"))
    finally:
        for cleanup in ctx["cleanup"]:
            cleanup()
    error_lines = [line for line in err.splitlines() if "error:" in line]
    assert code == case.get("exit_code", 2), err
    assert "Traceback" not in err and len(error_lines) == 1, err
    line = error_lines[0]
    print(f"{case['id']}: {line}")
    assert line.startswith(case.get("prefix", f"mg-eval {case['argv'][0]}: error: ")), line
    for word in case["expect"]:
        assert word in line, f"{word!r} not in {line!r}"
    for word in case.get("not_in", []):
        assert word not in line, line
    if not case.get("model_loads"):
        assert loads == [], f"a model was loaded before the error: {loads}"
    if case.get("store_kept"):
        assert stored_before and _stored_records(ctx["out"], case["argv"]) == stored_before
    if "stored_after" in case:
        records = [json.loads(item) for item in _stored_records(ctx["out"], case["argv"])[1:]]
        assert len(records) == case["stored_after"], records


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only user-caused failures become an error line; anything else propagates (a bug to report)."""
    import mg_eval.cli.tasks as tasks_command

    def broken(args: Any) -> int:
        raise RuntimeError("internal bug")

    monkeypatch.setattr(tasks_command, "run", broken)
    with pytest.raises(RuntimeError, match="internal bug"):
        main(["tasks"])


def test_mg_model_input_errors_map_to_one_line_user_errors() -> None:
    from mg_eval.errors import UserInputError, user_error_from
    from mg_model import CheckpointError, MGMConfigError
    from mg_model.conversation import MGMInputError
    from mg_model.train import TrainingInputError

    for error in (CheckpointError("bad\n  shard x"), MGMConfigError("bad key"), MGMInputError("bad text"),
                  TrainingInputError("bad row")):
        mapped = user_error_from(error, source="checkpoint /c")
        assert isinstance(mapped, UserInputError) and "\n" not in str(mapped)
        assert str(mapped).startswith("checkpoint /c: bad") and "; " in str(mapped)  # a fix is appended
    assert user_error_from(ValueError("a bug")) is None and user_error_from(KeyError("k")) is None


def test_a_cuda_index_beyond_the_gpus_names_the_devices_there_are(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where CUDA exists, ``--device cuda:N`` past the last GPU says which devices there are (no torch error)."""
    import torch

    from mg_eval.backends import check_device
    from mg_eval.errors import UserInputError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(UserInputError, match=r"--device cuda:63: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        check_device("cuda:63")
    check_device("cuda:1")
    check_device("cuda")
    with pytest.raises(UserInputError, match="--device-map cuda:2"):
        check_device("cuda:2", flag="--device-map")
    check_device("balanced", flag="--device-map")
