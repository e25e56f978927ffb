"""Judge accounting: what a judge did during a run, and the ungraded-sample threshold.

One :class:`JudgeStats` is shared by a judge and its cache wrapper (``build_judge`` wires them), so a
single object answers "how many calls, how many came from the cache, how many failed". Its
``to_dict()`` goes into the results record. Nothing here ever holds an API key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

from mg_eval.errors import JudgeError, UserInputError

__all__ = ["JudgeStats", "TooManyUngradedError", "check_ungraded"]


@dataclass
class JudgeStats:
    """Thread-safe counters of one judge's activity.

    Attributes:
        requests: ``complete`` calls the scorers made (cache hits included).
        hits: requests answered from the on-disk cache.
        misses: requests the cache could not answer (sent to the backend).
        calls: backend attempts actually made (HTTP requests or local generations, retries included).
        retries: backend attempts that were retries after a 429 / 5xx / timeout / garbage answer.
        failures: requests that ended in ``JudgeError`` after all retries.
        ungraded: samples a scorer could not grade (reported by the scorer via :meth:`add_ungraded`).
        prompt_tokens / completion_tokens: token usage reported by the backend (0 when unknown).
        backend_seconds: wall time spent inside backend attempts (all threads summed).
    """

    requests: int = 0
    hits: int = 0
    misses: int = 0
    calls: int = 0
    retries: int = 0
    failures: int = 0
    ungraded: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        """Add ``counts`` (e.g. ``hits=1``) to the named counters, atomically."""
        with self._lock:
            for name, value in counts.items():
                if name.startswith("_") or not hasattr(self, name):
                    raise AttributeError(f"JudgeStats has no counter {name!r}")
                setattr(self, name, getattr(self, name) + value)

    def add_ungraded(self, n: int = 1) -> None:
        """Count ``n`` samples that a scorer could not grade (never scored as a silent 0)."""
        self.add(ungraded=n)

    def to_dict(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict (for ``results.json``)."""
        with self._lock:
            out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        out["backend_seconds"] = round(out["backend_seconds"], 3)
        return out


class TooManyUngradedError(JudgeError, UserInputError):
    """More samples than the user allowed could not be graded by the judge.

    Also a ``UserInputError``: the CLI reports it as a clean failure naming the fix (exit code 2).
    """


def check_ungraded(
    n_ungraded: int,
    n_total: int,
    max_ungraded_fraction: float,
    *,
    task: str,
    judge_name: str | None,
) -> None:
    """Fail the run when the ungraded share exceeds the user's threshold.

    Args:
        n_ungraded: samples the judge step could not grade (the aggregation's ``n_ungraded``).
        n_total: samples scored.
        max_ungraded_fraction: allowed share in ``[0, 1]``; ``0.0`` tolerates no ungraded sample.
        task: task name, for the message.
        judge_name: ``judge.name`` or ``None`` when no judge was given.

    Raises:
        UserInputError: ``max_ungraded_fraction`` outside ``[0, 1]``.
        TooManyUngradedError: ``n_ungraded / n_total > max_ungraded_fraction``.
    """
    if not 0.0 <= max_ungraded_fraction <= 1.0:
        raise UserInputError(
            f"max_ungraded_fraction={max_ungraded_fraction!r} is outside [0, 1]; "
            "pass e.g. 0.0 (fail on any ungraded sample) or 0.05 (tolerate 5%)."
        )
    if n_total <= 0 or n_ungraded <= 0:
        return
    fraction = n_ungraded / n_total
    if fraction <= max_ungraded_fraction:
        return
    who = f"judge {judge_name}" if judge_name else "no judge (judge=none)"
    fix = ("Fix the judge (key, base URL, model name, rate limits, timeout; see the judge's failure count and the "
           "log), or re-score from the saved predictions once it works: cached grades are reused."
           if judge_name else
           "Name a judge (--judge paper, openai:<model> or local:<path>), or re-score the saved predictions with one.")
    raise TooManyUngradedError(
        f"{task}: {n_ungraded} of {n_total} samples ({fraction:.1%}) could not be graded by {who}, "
        f"above the allowed max_ungraded_fraction={max_ungraded_fraction:g}. The scores would be biased. "
        f"{fix} Raise max_ungraded_fraction only if a partial score is acceptable."
    )
