"""The run record: one finished (model, task, protocol) run on disk, written and read here only.

Layout (documented in ``results/SCHEMA.md``)::

    <root>/<model>/<task>/<run_id>/results.json    # scores + everything needed to reproduce them
    <root>/<model>/<task>/<run_id>/samples.jsonl   # one line per sample: prompt, raw output, extracted, score

``results.json`` carries ``schema_version``; readers refuse files from a newer major version with a
message naming the file. Files are written atomically (temp file + fsync + rename), so a crash never
leaves a half-written ``results.json`` behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.results.provenance import environment_info, git_sha

SCHEMA_VERSION = "1.0"
RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"

#: Top-level keys every ``results.json`` has (values may be ``null`` where stated in SCHEMA.md).
REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version", "run_id", "created_at", "model", "task", "protocol", "generation", "scores",
    "primary_metric", "n_samples", "for_reporting", "limit", "judge", "seeds", "environment",
    "git_sha", "timing", "run_config",
)


def sanitize_name(name: str) -> str:
    """A file-system-safe directory name for a model or task (``/``, spaces and odd characters -> ``_``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", name.strip()).strip("._")
    return cleaned or "unnamed"


def model_name_from_path(model_path: str | os.PathLike) -> str:
    """The results directory name of a checkpoint: its folder's base name, sanitised.

    ``/ckpt/MGM-7B-HD/`` -> ``MGM-7B-HD``.
    """
    return sanitize_name(Path(os.fspath(model_path).rstrip("/\\")).name)


def new_run_id(protocol: str, limit: int | None = None, now: _dt.datetime | None = None) -> str:
    """A sortable run id: ``<UTC time>_<protocol>[_limit<N>]``, e.g. ``20261122T021500Z_mgm_limit8``.

    Microseconds are included so two runs started in the same second never collide.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond:06d}Z"
    suffix = f"_limit{limit}" if limit is not None else ""
    return f"{stamp}_{sanitize_name(protocol)}{suffix}"


def run_dir(root: str | os.PathLike, model_name: str, task_name: str, run_id: str) -> Path:
    """``<root>/<model>/<task>/<run_id>`` (not created)."""
    return Path(root) / sanitize_name(model_name) / sanitize_name(task_name) / run_id


def make_results(
    *,
    run_id: str,
    model: Mapping[str, Any],
    task: Mapping[str, Any],
    protocol: str,
    generation: Mapping[str, Any],
    scores: Mapping[str, Any],
    primary_metric: str | None,
    n_samples: Mapping[str, int],
    limit: int | None,
    judge: str | None = None,
    seeds: Mapping[str, Any] | None = None,
    timing: Mapping[str, Any] | None = None,
    run_config: Mapping[str, Any] | None = None,
    device: str | None = None,
    extra: Mapping[str, Any] | None = None,
    not_for_reporting: Iterable[str] = (),
    backend: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a complete ``results.json`` payload (schema in ``results/SCHEMA.md``).

    ``model`` needs ``name``, ``path``, ``weights_hash`` (and usually ``config``); ``task`` needs
    ``name``, ``benchmark``, ``version``, ``fingerprint`` (and usually ``config``). ``for_reporting``
    is derived: a run is for reporting only without ``limit`` and without ``not_for_reporting`` reasons
    (each a sentence saying how the run departs from the protocol; recorded under ``not_for_reporting``,
    the ``limit`` reason included). ``backend``: the backend that made the predictions (``name``, ``version``,
    ``options``, ``decoding``); absent when unknown (a generator passed in; readers take such runs as ``mgm``).
    Environment and git SHA are filled in here.
    """
    reasons = ([f"--limit {limit}: only the first {limit} samples"] if limit is not None else []) + list(not_for_reporting)
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": dict(model),
        "task": dict(task),
        "protocol": protocol,
        "generation": dict(generation),
        "scores": dict(scores),
        "primary_metric": primary_metric,
        "n_samples": dict(n_samples),
        "for_reporting": not reasons,
        "not_for_reporting": reasons,
        "limit": limit,
        "judge": judge,
        "seeds": dict(seeds or {}),
        "environment": environment_info(device),
        "git_sha": git_sha(),
        "timing": dict(timing or {}),
        "run_config": dict(run_config or {}),
    }
    if backend is not None:
        record["backend"] = dict(backend)
    if extra:
        record["extra"] = dict(extra)
    validate_results(record)
    return record


def validate_results(record: Mapping[str, Any], source: str = "results record") -> None:
    """Check the keys and types a reader relies on; raise ``DataError`` naming ``source`` and the field."""
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise DataError(f"{source}: missing field(s) {missing}; rewrite it with mg_eval.results.make_results")
    major = str(record["schema_version"]).split(".")[0]
    if major != SCHEMA_VERSION.split(".")[0]:
        raise DataError(f"{source}: schema_version {record['schema_version']} is not readable by this harness "
                        f"(reads {SCHEMA_VERSION}); upgrade mini-gemini-eval")
    for key in ("name", "weights_hash"):
        if key not in record["model"]:
            raise DataError(f"{source}: model.{key} is missing")
    for key in ("name", "version", "fingerprint"):
        if key not in record["task"]:
            raise DataError(f"{source}: task.{key} is missing")
    if not isinstance(record["scores"], Mapping):
        raise DataError(f"{source}: scores must be an object of metric -> value")
    if "total" not in record["n_samples"]:
        raise DataError(f"{source}: n_samples.total is missing")
    if record["limit"] is not None and record["for_reporting"]:
        raise DataError(f"{source}: a --limit run cannot be for_reporting")
    if record.get("not_for_reporting") and record["for_reporting"]:
        raise DataError(f"{source}: for_reporting is true but not_for_reporting lists {record['not_for_reporting']}")


def _json_default(value: Any) -> Any:
    """Make numpy / torch scalars and paths JSON-serialisable."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _clean_floats(value: Any) -> Any:
    """Replace NaN / inf (not valid JSON) with ``None`` recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _clean_floats(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(item) for item in value]
    return value


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text with NaN -> null and numpy/torch scalars unwrapped."""
    return json.dumps(_clean_floats(value), indent=indent, ensure_ascii=False, default=_json_default)


TEMP_PREFIXES = (f".{RESULTS_FILE}.", f".{SAMPLES_FILE}.")


def remove_stale_temp_files(task_dir: str | os.PathLike, protocol: str) -> list[Path]:
    """Delete the temp files a kill during ``write_run`` left in the run directories of (task, protocol).

    ``_atomic_write`` writes ``.results.json.XXXX`` / ``.samples.jsonl.XXXX`` and renames them; a kill in
    between leaves them behind. Call while holding the task's store lock (no other run of the same
    (model, task, protocol) is writing then). A run directory left empty is removed too. Returns the
    deleted files.
    """
    removed = []
    folder = Path(task_dir)
    for directory in sorted(folder.glob(f"*_{sanitize_name(protocol)}*")) if folder.is_dir() else []:
        if not directory.is_dir() or not re.match(rf"^\d{{8}}T\d+Z_{re.escape(sanitize_name(protocol))}(_limit\d+)?$",
                                                   directory.name):
            continue
        for temp in directory.iterdir():
            if temp.name.startswith(TEMP_PREFIXES) and temp.is_file():
                temp.unlink(missing_ok=True)
                removed.append(temp)
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a fsync'd temp file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run(directory: str | os.PathLike, results: Mapping[str, Any],
              samples: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``results.json`` and ``samples.jsonl`` into ``directory``; returns the directory.

    ``samples.jsonl`` is written first, so a ``results.json`` always has its samples beside it.
    """
    validate_results(results)
    out = Path(directory)
    lines = "".join(dumps(sample) + "\n" for sample in samples)
    _atomic_write(out / SAMPLES_FILE, lines)
    _atomic_write(out / RESULTS_FILE, dumps(results, indent=2) + "\n")
    return out


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a ``results.json`` (``path`` may be the file or its run directory)."""
    file = Path(path)
    if file.is_dir():
        file = file / RESULTS_FILE
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{file}: no results.json here; point at a run directory written by `mg-eval run`") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON ({exc}); rerun the evaluation to rewrite it") from None
    validate_results(record, source=str(file))
    return record


def read_samples(path: str | os.PathLike, warn: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Load ``samples.jsonl`` (``path`` may be the file or its run directory).

    A torn last line (no newline and not valid JSON: a writer killed mid-line, e.g. a copy cut short) is
    skipped, as the prediction store's reader does, and reported through ``warn`` (default: a
    ``warning:`` line on stderr naming the file and line). Any other invalid line is a ``DataError``.
    """
    file = Path(path)
    if file.is_dir():
        file = file / SAMPLES_FILE
    try:
        lines = file.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise DataError(f"{file}: not found; point at a run directory written by `mg-eval run`") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{file}: not valid UTF-8 ({exc}); rerun the evaluation to rewrite it") from None
    samples = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            samples.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if line_no == len(lines):  # the last line has no newline: torn tail
                (warn or _warn_stderr)(f"{file}:{line_no}: torn last line (no newline, not valid JSON) skipped; "
                                       f"{len(samples)} samples read")
                break
            raise DataError(f"{file}:{line_no}: not valid JSON ({exc})") from None
    return samples


def _warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)
