"""The one map from the evaluation flags (``mg-eval run``, ``watch``, ``ablate``) to :class:`mg_eval.api.RunOptions`.

Not a command. The path of a run setting: flag (``mg_eval/cli/run.py``) -> :func:`run_options_from_args`
-> ``RunOptions`` -> ``mg_eval.engine.evaluate(..., options=...)`` (``mg_eval.ablation.run.run_ablation`` passes it
on per row). A flag a command does not have leaves the RunOptions default; settings resolved from several flags
or from files (the data paths, the judge, the backend's protocol and options) are passed in by the command.
"""

from __future__ import annotations

import argparse
from typing import Any

from mg_eval.api import RunOptions

__all__ = ["FLAG_FIELDS", "run_options_from_args"]

#: namespace attribute -> RunOptions field, for the flags that map one to one
FLAG_FIELDS: dict[str, str] = {
    "protocol": "protocol", "batch_size": "batch_size", "limit": "limit", "output": "output_dir",
    "num_workers": "num_workers", "dtype": "dtype", "device": "device", "device_map": "device_map",
    "encoder_root": "encoder_root", "fresh": "fresh", "continuous": "continuous", "backend": "backend",
}


def run_options_from_args(args: argparse.Namespace, **resolved: Any) -> RunOptions:
    """The run settings of a parsed command line; ``resolved`` (RunOptions fields) wins over the flags.

    Besides :data:`FLAG_FIELDS`: ``--max-new-tokens-cap N`` -> ``generation_overrides``, ``--no-progress`` ->
    ``progress``, ``--no-share`` -> ``share``, ``--attn`` / ``--compile`` -> ``decode``.
    """
    flags = vars(args)
    values: dict[str, Any] = {field: flags[name] for name, field in FLAG_FIELDS.items()
                              if name in flags and flags[name] is not None}
    if flags.get("max_new_tokens_cap") is not None:
        values["generation_overrides"] = {"max_new_tokens_cap": flags["max_new_tokens_cap"]}
    if "no_progress" in flags:
        values["progress"] = not flags["no_progress"]
    if "no_share" in flags:
        values["share"] = not flags["no_share"]
    if "attn" in flags:
        values["decode"] = {"attn": flags["attn"], "compile": flags["compile"]}
    values.update(resolved)
    return RunOptions.from_keywords(**values)
