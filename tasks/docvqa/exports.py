"""DocVQA test-server file: what lmms-eval's ``docvqa_test`` writes (``docvqa_test_for_submission.json``).

A JSON list ``[{"questionId": int, "answer": str}, ...]`` in the run's sample order, the raw responses (the
format the RRC DocVQA Task 1 server takes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError


def write_docvqa_test(record: Mapping[str, Any], samples: list[dict], path: Path) -> None:
    """Write ``[{questionId, answer}]`` from the run's samples."""
    content = []
    for sample in samples:
        if "question_id" not in sample:
            raise DataError(f"DocVQA export: sample {sample.get('doc_id')} has no question_id; export a run of "
                            "docvqa_test or docvqa_val.")
        content.append({"questionId": int(sample["question_id"]), "answer": str(sample["response"])})
    Path(path).write_text(json.dumps(content), encoding="utf-8")
