"""Parallel judge calls for sequential scorers, without changing what they compute.

The official scorers ask the judge one sample at a time (MathVista's 1,000 extractions take 20-80
minutes that way). :func:`score_with_judge` runs the scorer first against a *frontier* judge that
answers from the cache and, for every request not yet cached, records it and raises ``JudgeError``
(the scorer counts that sample as ungraded and moves on). The recorded requests are answered
concurrently into the cache, and the pass repeats, so later requests of a chain (MM-Vet's re-asks at
rising temperature, its further runs, MMBench's second try) are found in the following rounds. A
final, ordinary pass then scores with the real judge: every answer is a cache hit, the order of
the scorer's own logic (e.g. MMBench's seeded random fallback) is that of a sequential run, and so
is the result. The scorer must be a pure function of its records and the judge's answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mg_eval.errors import JudgeError
from mg_eval.judges.base import Judge
from mg_eval.judges.batch import JudgeRequest, complete_many
from mg_eval.judges.cache import CachedJudge
from mg_eval.judges.stats import JudgeStats

__all__ = ["prefetch", "score_with_judge"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


class _FrontierJudge:
    """Answers from the cache; records (and fails) every request the cache cannot answer yet."""

    def __init__(self, cached: CachedJudge, frontier: dict[str, tuple[int, JudgeRequest]], attempted: set[str]):
        self.name = cached.name
        self._cached = cached
        self._frontier = frontier
        self._attempted = attempted

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0, system: str | None = None) -> str:
        """The cached completion, or record the request and raise ``JudgeError``."""
        request = JudgeRequest(prompt, max_tokens=max_tokens, temperature=temperature, system=system)
        key, text = self._cached.lookup(request)
        if text is not None:
            return text
        if key not in self._attempted:
            self._frontier.setdefault(key, (self._cached.run, request))
        raise JudgeError("not answered yet (prefetch pass)")

    def for_run(self, run: int) -> _FrontierJudge:
        """The frontier judge of repetition ``run``."""
        return _FrontierJudge(self._cached.for_run(run), self._frontier, self._attempted)


def prefetch(
    score: Callable[[Judge], Any],
    judge: CachedJudge,
    *,
    max_workers: int | None = None,
    max_rounds: int = 16,
    progress: bool = True,
) -> dict[str, int]:
    """Answer, concurrently and into ``judge``'s cache, every request ``score`` would make.

    Args:
        score: the scoring function, called as ``score(some_judge)`` (several times; results discarded).
        judge: a caching judge (``build_judge`` returns one unless ``use_cache=False``).
        max_workers: threads (default: the judge's ``max_concurrency``).
        max_rounds: bound on the rounds (a chain longer than this finishes in the final sequential pass).
        progress: tqdm bar per round.

    Returns:
        ``{"rounds", "requests", "failures"}``. A failed request is not cached; the next ``score(judge)``
        of this process gets its ``JudgeError`` at once (no second round of retries), later runs ask again.
    """
    attempted: set[str] = set()
    workers = max_workers or judge.max_concurrency
    totals = {"rounds": 0, "requests": 0, "failures": 0}
    for _ in range(max_rounds):
        frontier: dict[str, tuple[int, JudgeRequest]] = {}
        try:
            score(_FrontierJudge(judge, frontier, attempted))
        except Exception as exc:  # noqa: BLE001 - the final, ordinary pass raises it again if it is real
            logger.warning("judge prefetch stopped (%s: %s); the remaining judge calls run sequentially",
                           type(exc).__name__, exc)
            if not frontier:
                break
        if not frontier:
            break
        totals["rounds"] += 1
        for run in sorted({run for run, _ in frontier.values()}):
            keys = [key for key, (r, _) in frontier.items() if r == run]
            view = judge.for_run(run) if run else judge
            answers = complete_many(view, [frontier[key][1] for key in keys], max_workers=workers,
                                    progress=progress, desc=f"judge prefetch round {totals['rounds']}")
            for key, answer in zip(keys, answers):
                attempted.add(key)
                if isinstance(answer, str):
                    judge.mark_prefetched(key)
                else:
                    judge.mark_prefetched(key, answer)
                    totals["failures"] += 1
            totals["requests"] += len(keys)
    return totals


def score_with_judge(
    score: Callable[[Judge | None], T],
    judge: Judge | None,
    *,
    parallel: bool = True,
    max_workers: int | None = None,
    progress: bool = True,
) -> T:
    """``score(judge)``, with the judge calls made concurrently first when ``judge`` caches.

    Example::

        scores = score_with_judge(lambda j: task.aggregate(records, protocol, judge=j), judge)

    Without a judge, without a cache, or with ``parallel=False`` this is exactly ``score(judge)``. When
    the result is a mapping with ``n_ungraded``, that count is added to ``judge.stats.ungraded``.
    """
    if parallel and isinstance(judge, CachedJudge) and judge.max_concurrency > 1:
        prefetch(score, judge, max_workers=max_workers, progress=progress)
    result = score(judge)
    stats = getattr(judge, "stats", None)
    n_ungraded = result.get("n_ungraded") if isinstance(result, Mapping) else None
    if isinstance(stats, JudgeStats) and isinstance(n_ungraded, int) and n_ungraded > 0:
        stats.add_ungraded(n_ungraded)
    return result
