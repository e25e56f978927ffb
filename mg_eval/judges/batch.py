"""Many judge requests at once, on a thread pool, with per-request failures kept visible."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from tqdm.auto import tqdm

from mg_eval.errors import JudgeError
from mg_eval.judges.base import Judge

__all__ = ["JudgeRequest", "complete_many"]


@dataclass(frozen=True)
class JudgeRequest:
    """One prompt and the parameters of its completion (the arguments of ``Judge.complete``)."""

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    system: str | None = None


def complete_many(
    judge: Judge,
    requests: Sequence[JudgeRequest],
    *,
    max_workers: int = 8,
    progress: bool = True,
    desc: str = "judge",
) -> list[str | JudgeError]:
    """Answer ``requests`` with ``judge.complete`` on up to ``max_workers`` threads, in input order.

    A request the judge could not answer yields its ``JudgeError`` in the output list (the caller
    counts it as ungraded; nothing becomes a silent 0). Any other exception (a rejected API key, a
    bad configuration) stops the batch and is re-raised.

    Args:
        judge: any judge; its own concurrency limit still applies across all callers.
        requests: the prompts and parameters.
        max_workers: threads to use (1 = sequential).
        progress: show a tqdm bar.
        desc: the bar's label.

    Returns:
        ``list[str | JudgeError]`` aligned with ``requests``.
    """
    if not requests:
        return []

    def one(request: JudgeRequest) -> str | JudgeError:
        try:
            return judge.complete(
                request.prompt, max_tokens=request.max_tokens, temperature=request.temperature, system=request.system
            )
        except JudgeError as exc:
            return exc

    bar = tqdm(total=len(requests), desc=desc, disable=not progress, unit="req")
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(requests)))) as pool:
        futures = [pool.submit(one, request) for request in requests]
        for future in futures:
            future.add_done_callback(lambda _f: bar.update(1))
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        if pending:  # only when something other than JudgeError escaped
            for future in pending:
                future.cancel()
        bar.close()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
