"""Group summary scores over runs: the ``average:`` a group YAML declares (:class:`mg_eval.api.GroupScore`),
computed from the newest run of each member task, and only when every member has a full run.

A full run is one ``for_reporting`` (no ``--limit``, no sample data, no overrides): a group score mixing a
limited run would not be the benchmark's number. ``mg-eval results``, ``mg-eval plot`` and ``mg-eval report``
show these scores; nothing here names a group or a benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mg_eval.api import GroupScore
from mg_eval.results import newest_per
from mg_eval.tasks import list_group_scores

__all__ = ["group_score_value", "group_scores_of", "newest_by_task"]


def newest_by_task(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``{task: the newest record (highest run_id)}`` of ``records`` (results.json dicts of one model)."""
    return newest_per(records, lambda record: record["task"]["name"], run_id=lambda record: record["run_id"])


def group_score_value(score: GroupScore, records_by_task: Mapping[str, Mapping[str, Any]]) -> float | None:
    """The group score from ``{task: results.json record}``; ``None`` unless every member task has a record that
    is for reporting and holds the member's score."""
    members = [records_by_task.get(task) for task in score.tasks]
    if any(record is None or not record.get("for_reporting") for record in members):
        return None
    return score.compute({task: record["scores"] for task, record in zip(score.tasks, members)})


def group_scores_of(records_by_task: Mapping[str, Mapping[str, Any]]) -> dict[GroupScore, float]:
    """Every declared group score these records complete, with its value."""
    values = {score: group_score_value(score, records_by_task) for score in list_group_scores()}
    return {score: value for score, value in values.items() if value is not None}
