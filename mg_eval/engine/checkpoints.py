"""The checkpoints of a training run: found from a glob or a training output folder, ordered by step, told
complete from still being written, and tied to their run's identity.

A training output folder (``mg-eval train --output DIR`` or the official trainer's ``output_dir``) holds
``checkpoint-<step>/`` folders and, once training is done, the final model at its root (with the root
``trainer_state.json``). Two kinds of checkpoint are evaluated:

* ``full``: the official layout (``config.json`` + safetensors / bin shards, their index). Complete when every
  shard its index names is present and ``trainer_state.json`` (written last, by ``mg-eval train`` and the HF
  Trainer alike) exists.
* ``projector``: the official stage-1 trainer saves only ``mm_projector.bin`` (+ ``config.json``) per
  checkpoint; it is evaluated on its base (``--base``, the MGM checkpoint stage 1 started from) with the
  projector and mining weights loaded over the base's. Complete when ``mm_projector.bin`` is present.

``mg-eval watch`` also waits until the files' sizes are unchanged between two polls (:func:`signature`).
Each checkpoint becomes a :class:`~mg_eval.engine.runner.ModelSpec` named ``<run folder>-step<N>`` whose
``training`` record (run folder, step, kind, base, ``config_hash`` from ``trainer_state.json``) goes into
``results.json`` ``model.training``.
"""

from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError, UserInputError
from mg_eval.models.hashing import CHECKPOINT_DIR
from mg_eval.results import open_run, run_dirs, sanitize_name

STATE_FILE = "trainer_state.json"  # mg_model.train.trainer.STATE_FILE; the HF Trainer's name too
ADAPTER_FILE = "mm_projector.bin"  # mg_model.train.stages.ADAPTER_FILE
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
WEIGHT_GLOBS = ("model*.safetensors", "pytorch_model*.bin")
GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class TrainingCheckpoint:
    """One checkpoint of a training run.

    Attributes:
        path: the checkpoint folder (the run folder itself for the final model).
        run_dir: the training output folder.
        step: the optimizer step it was saved at.
        final: the run's final model (root of ``run_dir``).
    """

    path: Path
    run_dir: Path
    step: int
    final: bool = False

    @property
    def kind(self) -> str:
        """``full`` (weights in the folder) or ``projector`` (only ``mm_projector.bin``: evaluated on a base)."""
        has_weights = _has_weight_files(self.path) or any((self.path / name).is_file() for name in INDEX_FILES)
        return "projector" if not has_weights and (self.path / ADAPTER_FILE).is_file() else "full"

    @property
    def model_name(self) -> str:
        """The results folder name: ``<run folder>-step<N>`` (``checkpoint-500`` alone would collide across runs)."""
        return f"{sanitize_name(self.run_dir.resolve().name)}-step{self.step}"

    def missing(self) -> list[str]:
        """What the checkpoint still lacks to be complete (empty list = complete); see the module docstring."""
        if not self.path.is_dir():
            return ["the folder (deleted)"]
        if self.kind == "projector":
            return []
        missing = [name for name in ("config.json",) if not (self.path / name).is_file()]
        index = next((self.path / name for name in INDEX_FILES if (self.path / name).is_file()), None)
        if index is not None:
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            except (OSError, ValueError, KeyError, AttributeError):
                shards, missing = [], missing + [f"a readable {index.name}"]
            missing += [shard for shard in shards if not (self.path / shard).is_file()]
        elif not _has_weight_files(self.path):
            missing.append("weight files")
        if not (self.path / STATE_FILE).is_file():
            missing.append(STATE_FILE)
        return missing

    def identity(self) -> dict[str, Any]:
        """``{"config_hash", "run_dir"}``: the run this checkpoint belongs to (hash from its ``trainer_state.json``,
        computed from the config there when an older trainer wrote none; ``None`` when there is no config)."""
        state = read_state(self.path / STATE_FILE)
        value = state.get("config_hash")
        if value is None and isinstance(state.get("config"), dict):
            from mg_model.train.config import config_hash

            value = config_hash(state["config"])
        return {"config_hash": value, "run_dir": str(self.run_dir.resolve())}

    def record(self, base: Path | None = None) -> dict[str, Any]:
        """What ``results.json`` ``model.training`` holds for this checkpoint."""
        record = {"step": self.step, "final": self.final, "checkpoint": str(self.path.resolve()), "kind": self.kind,
                  **self.identity()}
        if base is not None:
            record["base"] = str(base.resolve())
        return record


def _has_weight_files(folder: Path) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in WEIGHT_GLOBS)


def read_state(path: Path) -> dict[str, Any]:
    """A JSON object file such as ``trainer_state.json`` as a dict (``{}`` when absent or unreadable: a
    checkpoint being written)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def is_training_output(folder: Path) -> bool:
    """A folder written by a trainer: it holds ``checkpoint-<step>/`` folders or a final ``trainer_state.json``."""
    return folder.is_dir() and (bool(checkpoint_dirs(folder)) or "global_step" in read_state(folder / STATE_FILE))


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders of ``run_dir`` (complete or not), by step."""
    try:
        found = [path for path in run_dir.iterdir() if path.is_dir() and CHECKPOINT_DIR.match(path.name)]
    except OSError:
        return []
    return sorted(found, key=lambda path: int(CHECKPOINT_DIR.match(path.name).group(1)))


def scan_run(run_dir: Path) -> list[TrainingCheckpoint]:
    """Every checkpoint of a training output folder (complete or not) and its final model if written, by step
    (one entry per step: a ``checkpoint-<last step>`` beside the final model stands for it, marked final)."""
    found = [TrainingCheckpoint(path, run_dir, int(CHECKPOINT_DIR.match(path.name).group(1)))
             for path in checkpoint_dirs(run_dir)]
    state = read_state(run_dir / STATE_FILE)
    if isinstance(state.get("global_step"), int):
        final = int(state["global_step"])
        same = [item for item in found if item.step == final]  # the HF Trainer also saves checkpoint-<last step>
        found = [item for item in found if item.step != final]
        found.append(TrainingCheckpoint(same[0].path, run_dir, final, final=True) if same
                     else TrainingCheckpoint(run_dir, run_dir, final, final=True))
    return sorted(found, key=lambda item: item.step)


def signature(checkpoint: TrainingCheckpoint) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and mtimes of the checkpoint's files (the final model: the run folder's own files, not its
    checkpoints'); equal between two polls = nothing is being written."""
    root = checkpoint.path
    try:
        files = ([path for path in root.iterdir() if path.is_file()] if checkpoint.final
                 else [path for path in root.rglob("*") if path.is_file()])
        return tuple(sorted((path.relative_to(root).as_posix(), path.stat().st_size, path.stat().st_mtime_ns)
                            for path in files))
    except OSError:  # deleted while listing
        return ()


def expand_glob(value: str) -> list[str]:
    """A ``--model`` value with ``*``, ``?`` or ``[`` -> the folders it matches (sorted); others unchanged.

    ``UserInputError`` for a pattern that matches no folder.
    """
    if not GLOB_CHARS.search(value):
        return [value]
    matches = sorted(item for item in glob.glob(os.path.expanduser(value)) if Path(item).is_dir())
    if not matches:
        raise UserInputError(f"--model {value!r} matches no folder; check the path (quote the pattern so the "
                             "shell leaves it to mg-eval, e.g. --model 'runs/stage2/checkpoint-*')")
    return matches


def training_checkpoints(value: str, strict: bool = True) -> list[TrainingCheckpoint] | None:
    """The training checkpoints a ``--model`` folder names (complete or not), or ``None`` for a plain checkpoint.

    A ``checkpoint-<step>`` folder, or a training output folder that holds ``checkpoint-<step>`` folders (all of
    them + its final model). ``strict``: ``UserInputError`` for a folder that is neither a checkpoint nor a
    training output (else ``None``: a backend whose models are not checkpoint folders checks it itself).
    """
    path = Path(os.path.expanduser(value))
    path = path.resolve() if path.is_dir() else path
    if path.is_dir() and CHECKPOINT_DIR.match(path.name):
        return [TrainingCheckpoint(path, path.parent, int(CHECKPOINT_DIR.match(path.name).group(1)))]
    if path.is_dir() and checkpoint_dirs(path):
        return scan_run(path)
    if strict and path.is_dir() and not (path / "config.json").is_file() and not _has_weight_files(path):
        raise UserInputError(f"--model {path} is neither a checkpoint (no config.json) nor a training output "
                             f"(no checkpoint-<step> folders, no {STATE_FILE}); pass a checkpoint folder, a training "
                             "output folder or a quoted glob such as 'runs/stage2/checkpoint-*'")
    return None


def check_base(checkpoint: TrainingCheckpoint, base: str | None) -> Path | None:
    """The base a projector-only checkpoint is evaluated on (``--base``); ``None`` for a full checkpoint."""
    if checkpoint.kind != "projector":
        return None
    if not base:
        raise UserInputError(f"{checkpoint.path} holds only {ADAPTER_FILE} (a stage-1 checkpoint); pass --base PATH, "
                             "the MGM checkpoint stage 1 started from, to evaluate it on that base")
    folder = Path(os.path.expanduser(base))
    if not (folder / "config.json").is_file():
        raise UserInputError(f"--base {folder} (the base of the stage-1 checkpoint {checkpoint.path}) "
                             f"{'has no config.json' if folder.is_dir() else 'does not exist'}; pass the MGM "
                             "checkpoint folder stage 1 started from")
    return folder


def model_spec(checkpoint: TrainingCheckpoint, base: str | None) -> Any:
    """The runner's ``ModelSpec`` of a complete checkpoint (projector-only: the base with the adapter)."""
    from mg_eval.engine.runner import ModelSpec

    base_dir = check_base(checkpoint, base)
    if base_dir is None:
        return ModelSpec(name=checkpoint.model_name, path=checkpoint.path, training=checkpoint.record())
    return ModelSpec(name=checkpoint.model_name, path=base_dir, adapter=checkpoint.path / ADAPTER_FILE,
                     training=checkpoint.record(base_dir))


def check_results_identity(output: Path, specs: list[Any]) -> None:
    """Refuse to write a checkpoint's results beside those of another training run under the same name
    (two runs in folders of the same name): ``UserInputError`` naming both."""
    for spec in specs:
        training = getattr(spec, "training", None)
        if not training:
            continue
        for folder in run_dirs(output / sanitize_name(spec.name))[:1]:
            try:
                recorded = open_run(folder).record["model"].get("training") or {}
            except DataError:  # an unreadable run says nothing about its training run
                continue
            theirs = (recorded.get("config_hash"), recorded.get("run_dir"))
            ours = (training.get("config_hash"), training.get("run_dir"))
            if recorded and theirs[0] != ours[0] and theirs[1] != ours[1]:
                raise UserInputError(f"{output / sanitize_name(spec.name)} holds results of another training run "
                                     f"({theirs[1]}, config {theirs[0]}), not of {ours[1]} (config {ours[0]}); "
                                     "pass another --output or rename one run folder")


def expand_models(values: list[Any], base: str | None = None, warn: Any = None, strict: bool = True) -> list[Any]:
    """``--model`` values -> what ``evaluate`` takes: globs expanded; plain checkpoint paths unchanged; training
    checkpoints as ``ModelSpec`` (complete ones only, by run and step, each once; incomplete ones reported
    through ``warn``). Raises ``UserInputError`` before any model loads (see :func:`training_checkpoints`;
    ``strict`` as there)."""
    models: list[Any] = []
    seen: set[TrainingCheckpoint] = set()
    for value in values:
        if not isinstance(value, str):  # already a ModelSpec (mg-eval watch) or a Generator
            models.append(value)
            continue
        found: list[TrainingCheckpoint] = []
        for item in expand_glob(value):
            checkpoints = training_checkpoints(item, strict)
            if checkpoints is None:
                models.append(item)
            else:
                found += checkpoints
        complete = [checkpoint for checkpoint in found if not checkpoint.missing()]
        for checkpoint in found:
            if checkpoint not in complete and warn:
                warn(f"{checkpoint.path} is not complete yet (missing {', '.join(checkpoint.missing()[:3])}); "
                     "skipped (`mg-eval watch` evaluates checkpoints as they complete)")
        if found and not complete:
            raise UserInputError(f"--model {value}: none of its {len(found)} checkpoint(s) is complete yet (e.g. "
                                 f"{found[0].path} lacks {', '.join(found[0].missing()[:3])}); wait for the trainer, "
                                 "or follow the run with `mg-eval watch`")
        for checkpoint in sorted(set(complete) - seen, key=lambda item: (str(item.run_dir), item.step, item.final)):
            seen.add(checkpoint)
            models.append(model_spec(checkpoint, base))
    return models
