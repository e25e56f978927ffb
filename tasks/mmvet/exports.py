"""MM-Vet submission file: the ``{"v1_<i>": prediction}`` json the official online evaluator takes.

As LLaVA's / MGM's ``scripts/convert_mmvet_for_eval.py`` writes it: one key per question, ``v1_<question id>``
(our doc ids already are ``v1_<i>``), the raw model answer as the value, ``json.dump(..., indent=2)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _key(doc_id: str) -> str:
    return doc_id if doc_id.startswith("v1_") else f"v1_{doc_id}"


def write_mmvet(record: Mapping[str, Any], samples: list[dict], path: Path) -> None:
    """Write ``{"v1_<i>": response}`` for every sample, in the run's order."""
    content = {_key(str(sample["doc_id"])): sample["response"] for sample in samples}
    Path(path).write_text(json.dumps(content, indent=2), encoding="utf-8")
