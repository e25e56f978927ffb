"""MMMU-Pro: the official output jsonl that ``mmmu-pro/infer/*.py`` writes and ``mmmu-pro/evaluate.py`` reads.

The file is ``<model>_<setting>_<cot|direct>.jsonl`` (setting ``standard (10 options)``, ``standard (4
options)`` or ``vision``): one dataset row per line (images dropped) with the model's ``response``; the
scorer needs ``id``, ``options`` (a list literal), ``answer`` and ``response`` (``subject`` where present).
``evaluate.py`` parses every response (``scorer.parse_multi_choice_response``) and reports right / all x 100.
The setting comes from the name: ``..._vision_<mode>.jsonl`` is the vision task, any other name the standard
one (both are scored alike; ``evaluate.py`` itself reads only ``<model>_<standard|vision>_<cot|direct>.jsonl``).

``evaluate.py`` writes its result back into the same file: each line then also holds ``pred_indexs`` (the parsed
letter, its own unseeded random draw where the parser found nothing) and ``if_right``. Where our parser would
draw, such a stored draw is taken instead of ours, so an evaluated file re-scores to the number the official run
printed (``n_random_from_file`` counts them; a file never evaluated gets our seeded draws).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError
from mg_eval.rescore.base import require_keys
from mg_eval.tasks.formats import read_jsonl

from . import scorer as mmmu_pro

_KEYS = ("id", "options", "answer", "response")
_VISION_NAME = re.compile(r"_vision_(cot|direct)$")


def _first_line(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            item = json.loads(handle.readline())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return item if isinstance(item, dict) else None


def _is_output(path: Path) -> bool:
    """A ``.jsonl`` whose first line has the keys above and a list-literal ``options``."""
    if not (path.is_file() and path.suffix == ".jsonl"):
        return False
    item = _first_line(path)
    if item is None or not set(_KEYS) <= set(item):
        return False
    try:
        mmmu_pro.parse_options(item["options"])
    except DataError:
        return False
    return True


def detect_standard(path: Path) -> bool:
    """An official output file of a standard setting (its name does not end ``_vision_<mode>``)."""
    return _is_output(path) and not _VISION_NAME.search(path.stem)


def detect_vision(path: Path) -> bool:
    """An official output file of the vision setting (``..._vision_<cot|direct>.jsonl``)."""
    return _is_output(path) and bool(_VISION_NAME.search(path.stem))


def _record(item: dict, where: str) -> dict:
    """The scorer's record of one line; a random fallback takes the official run's stored draw if there is one."""
    try:
        record = mmmu_pro.process_result(str(item["id"]), str(item.get("subject") or ""), item["options"],
                                         str(item["answer"]), item["response"])
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    stored = item.get("pred_indexs")
    if record["parsed"] is None and stored in record["all_choices"]:
        record.update(parsed=stored, random_from_file=True)
    return record


def read(path: Path) -> list[dict]:
    """One record per line, parsed as ``evaluate.py`` parses it (random fallbacks drawn in ``aggregate``)."""
    records = []
    for item, where in read_jsonl(path):
        require_keys(item, _KEYS, where, "Use the jsonl mmmu-pro/infer writes (dataset row + 'response').")
        records.append(_record(item, where))
    if not records:
        raise DataError(f"{path}: no lines.")
    return records


def aggregate(records: list[dict]) -> dict:
    """:func:`scorer.aggregate` (rule-based, no judge) and ``n_random_from_file`` (draws of the official run)."""
    scores = mmmu_pro.aggregate(records)
    return {**scores, "n_random_from_file": sum(1 for record in records if record.get("random_from_file"))}


def to_samples(records: list[dict], scores: Mapping[str, Any]) -> list[dict]:
    """samples.jsonl lines: the parsed letter (``None`` = drawn at random) and the hit."""
    per_sample = scores.get("per_sample", {})
    return [{**record, "prompt": None, "extracted": record["parsed"], "target": record["answer"],
             "score": per_sample.get(record["doc_id"])} for record in records]
