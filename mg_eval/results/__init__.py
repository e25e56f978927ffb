"""Results as their own room: the prediction store, the run records, and the one way to find runs.

* :mod:`mg_eval.results.store`: the fsync'd prediction store of one (model, task, protocol), its lock and header.
* :mod:`mg_eval.results.records`: ``results.json`` / ``samples.jsonl``: the schema, ``make_results``, atomic
  ``write_run``, ``read_results`` / ``read_samples``, run ids and folder names.
* :mod:`mg_eval.results.provenance`: where a run came from (packages, platform, commit) and ``how_made`` /
  ``made_mark`` (backend, prompts, judge).
* :mod:`mg_eval.results.runs`: ``collect_runs`` (typed :class:`Run` records), ``newest_per``, ``open_run``: every
  reader of finished runs finds them here; nothing else in ``mg_eval`` looks for ``results.json`` files.

Importing this package loads no torch, pandas or matplotlib.
"""

from __future__ import annotations

from mg_eval.results.provenance import how_made, made_mark
from mg_eval.results.records import (
    RESULTS_FILE,
    SAMPLES_FILE,
    SCHEMA_VERSION,
    make_results,
    model_name_from_path,
    new_run_id,
    read_results,
    read_samples,
    run_dir,
    sanitize_name,
    write_run,
)
from mg_eval.results.runs import (
    Run,
    RunFacts,
    collect_runs,
    is_run_dir,
    is_samples_file,
    newest_per,
    open_run,
    run_dirs,
    run_files,
)

__all__ = [
    "RESULTS_FILE", "SAMPLES_FILE", "SCHEMA_VERSION", "Run", "RunFacts", "collect_runs", "how_made", "is_run_dir", "is_samples_file", "made_mark", "make_results",
    "model_name_from_path", "new_run_id", "newest_per", "open_run", "read_results", "read_samples", "run_dir",
    "run_dirs", "run_files", "sanitize_name", "write_run",
]
