"""MMMU test-server file: the output of MGM's ``mgm/eval/MMMU/eval/convert_to_test.py``.

``{question id: prediction}`` for every answer line, in the answer file's order (= the dataset order); a
multiple-choice prediction is the parsed letter (random fallbacks included), an open one is a list of
candidates and the converter keeps ``str(candidates[0])``; ``json.dump(..., indent=4)`` (MMMU ``save_json``).
The official open-question candidate list comes from a ``set``, so its first element depends on Python's
string hashing there; ours is the first of our (deterministic) candidate list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError


def write_mmmu_test(record: Mapping[str, Any], samples: list[dict], path: Path) -> None:
    """Write ``{id: prediction}`` from the run's final predictions (``scores.per_sample``)."""
    per_sample = record["scores"].get("per_sample") or {}
    content = {}
    for sample in samples:
        doc_id = str(sample["doc_id"])
        if doc_id not in per_sample:
            raise DataError(f"MMMU export: {doc_id} has no final prediction in results.json scores.per_sample; "
                            f"rescore the run (mg-eval score) with this version.")
        pred = per_sample[doc_id]["pred"]
        content[doc_id] = str(pred[0]) if isinstance(pred, list) else pred
    Path(path).write_text(json.dumps(content, indent=4), encoding="utf-8")
