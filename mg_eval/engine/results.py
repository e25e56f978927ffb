"""Compatibility re-export (the old import path): the run records now live in :mod:`mg_eval.results`.

Nothing in ``mg_eval`` imports this module; it is kept so that external code written against
``mg_eval.engine.results`` keeps working. ``find_runs(root)`` here is :func:`mg_eval.results.run_dirs` (run folders,
sorted by path); new code uses :func:`mg_eval.results.collect_runs`.
"""

from __future__ import annotations

from mg_eval.results.provenance import environment_info, git_sha, how_made, made_mark, package_versions
from mg_eval.results.records import (
    REQUIRED_KEYS,
    RESULTS_FILE,
    SAMPLES_FILE,
    SCHEMA_VERSION,
    TEMP_PREFIXES,
    dumps,
    make_results,
    model_name_from_path,
    new_run_id,
    read_results,
    read_samples,
    remove_stale_temp_files,
    run_dir,
    sanitize_name,
    validate_results,
    write_run,
)
from mg_eval.results.runs import run_dirs as find_runs

__all__ = [
    "REQUIRED_KEYS", "RESULTS_FILE", "SAMPLES_FILE", "SCHEMA_VERSION", "TEMP_PREFIXES", "dumps", "environment_info",
    "find_runs", "git_sha", "how_made", "made_mark", "make_results", "model_name_from_path", "new_run_id",
    "package_versions", "read_results", "read_samples", "remove_stale_temp_files", "run_dir", "sanitize_name",
    "validate_results", "write_run",
]
