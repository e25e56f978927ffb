"""Follow a training run and evaluate each checkpoint as soon as it is complete (``mg-eval watch``).

Each poll lists the run's checkpoints (:func:`mg_eval.engine.checkpoints.scan_run`). A checkpoint is evaluated
once it is complete (every shard of its index, ``trainer_state.json``; see ``checkpoints``) **and** its files'
names, sizes and mtimes are the same as at the previous poll; ready ones go oldest first, one at a time (one
model in memory), through the same evaluation as ``mg-eval run`` (store locks, resume, results).

After each checkpoint the step is written to a ledger, ``<output>/.watch/<key>.json`` (atomic rename), keyed
by the run folder and the evaluation settings; a restarted watch (after kill -9) skips the steps it holds and
resumes a checkpoint whose evaluation was cut off from its stored predictions. A checkpoint that disappears
before it was evaluated (the trainer's ``save_total_limit``) is reported and recorded as skipped, not an error.

The watch stops when the run's final model is evaluated, when every checkpoint up to ``until`` is done and the
trainer has gone past it, or after ``max_polls`` polls. Time enters only through the ``sleep`` callable, so
tests drive the loop poll by poll without waiting.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg_eval.engine.checkpoints import STATE_FILE, TrainingCheckpoint, is_training_output, scan_run, signature
from mg_eval.errors import UserInputError

LEDGER_DIR = ".watch"


@dataclass
class WatchSettings:
    """How the watch polls: seconds between polls, the last step wanted, an optional bound on polls."""

    poll_seconds: float = 60.0
    until: int | None = None
    max_polls: int | None = None


@dataclass
class WatchSummary:
    """What one watch did: steps evaluated (in order), steps gone before evaluation, why it stopped."""

    evaluated: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    stopped: str = ""


class Ledger:
    """The steps a watch of ``run_dir`` with these ``settings`` has finished: ``{step: {status, config_hash}}``.

    A step counts as done only for the same run identity (``config_hash``): a run retrained in the same folder
    with another config is evaluated again.
    """

    def __init__(self, output: Path, run_dir: Path, settings: Mapping[str, Any]):
        text = json.dumps({"run_dir": str(run_dir.resolve()), **settings}, sort_keys=True, default=str)
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.path = output / LEDGER_DIR / f"{run_dir.resolve().name}-{key}.json"
        self.header = {"run_dir": str(run_dir.resolve()), "settings": json.loads(text)}
        self.steps: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.steps = dict(json.loads(self.path.read_text(encoding="utf-8"))["steps"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise UserInputError(f"watch ledger {self.path} is unreadable ({exc}); delete it to start the watch "
                                     "over (stored predictions are kept and reused)") from None

    def done(self, checkpoint: TrainingCheckpoint, config_hash: str | None) -> bool:
        entry = self.steps.get(_key(checkpoint))
        return bool(entry) and entry.get("config_hash") == config_hash

    def mark(self, checkpoint: TrainingCheckpoint, status: str, config_hash: str | None) -> None:
        """Record ``status`` (``evaluated`` / ``deleted``) for the checkpoint; written atomically."""
        self.steps[_key(checkpoint)] = {"status": status, "config_hash": config_hash, "step": checkpoint.step,
                                        "final": checkpoint.final}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump({**self.header, "steps": self.steps}, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)


def _key(checkpoint: TrainingCheckpoint) -> str:
    return str(checkpoint.step)  # one checkpoint per step (scan_run); the final model is its last step


def check_run_dir(run_dir: Path) -> None:
    """A folder that exists and holds something, but not a training output, is an error (a typo or a model
    folder); a missing or empty folder is waited for (the trainer creates it at its first checkpoint)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserInputError(f"RUN_DIR {run_dir} is a file; pass the training output folder (mg-eval train --output)")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not is_training_output(run_dir):
        entries = sorted(path.name for path in run_dir.iterdir())[:4]
        raise UserInputError(f"RUN_DIR {run_dir} is not a training output (no checkpoint-<step> folders, no "
                             f"{STATE_FILE}; it holds {', '.join(entries)}); pass the folder `mg-eval train --output` "
                             "(or the official trainer's output_dir) writes")


class Watcher:
    """The poll loop (see the module docstring). ``evaluate(checkpoint)`` evaluates one complete checkpoint."""

    def __init__(self, run_dir: Path, ledger: Ledger, evaluate: Callable[[TrainingCheckpoint], Any],
                 settings: WatchSettings, sleep: Callable[[float], None] = time.sleep,
                 report: Callable[[str], None] = print):
        self.run_dir, self.ledger, self.evaluate = run_dir, ledger, evaluate
        self.settings, self.sleep, self.report = settings, sleep, report
        self.last_signature: dict[str, tuple] = {}
        self.waiting: set[str] = set()
        self.summary = WatchSummary()

    def run(self) -> WatchSummary:
        polls = 0
        if not self.run_dir.is_dir():
            self.report(f"waiting: {self.run_dir} does not exist yet (the trainer creates it at its first checkpoint)")
        elif not scan_run(self.run_dir):
            self.report(f"waiting: no checkpoint in {self.run_dir} yet")
        while True:
            self.poll()
            stop = self.stop_reason()
            polls += 1
            if not stop and self.settings.max_polls is not None and polls >= self.settings.max_polls:
                stop = f"{polls} polls done (--max-polls)"
            if stop:
                self.summary.stopped = stop
                return self.summary
            self.sleep(self.settings.poll_seconds)

    def poll(self) -> None:
        """One look at the run: report vanished checkpoints, evaluate the ready ones oldest first."""
        present = scan_run(self.run_dir) if self.run_dir.is_dir() else []
        names = {_key(item) for item in present}
        for key in sorted(self.waiting - names):
            self._gone(key)
        for checkpoint in present:
            if self.settings.until is not None and checkpoint.step > self.settings.until:
                continue
            config_hash = checkpoint.identity()["config_hash"]
            if self.ledger.done(checkpoint, config_hash):
                continue
            if not self._ready(checkpoint):
                continue
            self._evaluate(checkpoint, config_hash)

    def _ready(self, checkpoint: TrainingCheckpoint) -> bool:
        key = _key(checkpoint)
        missing = checkpoint.missing()
        if key not in self.waiting and missing:
            self.report(f"waiting: {checkpoint.path} is being written (missing {', '.join(missing[:3])})")
        self.waiting.add(key)
        now = signature(checkpoint) if not missing else None
        before = self.last_signature.get(key)
        self.last_signature[key] = now
        return now is not None and now == before

    def _evaluate(self, checkpoint: TrainingCheckpoint, config_hash: str | None) -> None:
        self.report(f"evaluating {checkpoint.path} (step {checkpoint.step}{', final model' if checkpoint.final else ''})")
        try:
            self.evaluate(checkpoint)
        except Exception:
            if checkpoint.path.is_dir():
                raise
            self._gone(_key(checkpoint), checkpoint)  # deleted by the trainer while it was being loaded
            return
        self.waiting.discard(_key(checkpoint))
        self.ledger.mark(checkpoint, "evaluated", config_hash)
        self.summary.evaluated.append(checkpoint.step)

    def _gone(self, key: str, checkpoint: TrainingCheckpoint | None = None) -> None:
        self.waiting.discard(key)
        self.last_signature.pop(key, None)
        step = int(key)
        self.summary.deleted.append(step)
        self.report(f"note: checkpoint-{step} was deleted before it was evaluated (the trainer's save_total_limit "
                    "keeps only the newest checkpoints); skipped")
        if checkpoint is not None:
            self.ledger.mark(checkpoint, "deleted", checkpoint.identity()["config_hash"])

    def stop_reason(self) -> str:
        """Why the watch is finished now ("" = keep going)."""
        present = scan_run(self.run_dir) if self.run_dir.is_dir() else []
        done = {key for key, entry in self.ledger.steps.items() if entry.get("status") == "evaluated"}
        if any(item.final and _key(item) in done for item in present):
            return "the run's final model is evaluated"
        until = self.settings.until
        if until is None:
            return ""
        pending = [item for item in present if item.step <= until and _key(item) not in done]
        passed = any(item.step >= until or item.final for item in present)
        return f"every checkpoint up to step {until} is evaluated" if passed and not pending else ""
