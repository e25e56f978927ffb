"""Continuous batching in the engine (``evaluate(..., continuous=True)``, ``mg-eval run --continuous``).

For greedy single-beam tasks whose generator offers ``generate_stream`` (``MGMGenerator``): the
DataLoader still prepares the planned batches in plan order, but their samples feed one
``mg_model.generation.continuous.ContinuousDecoder`` that keeps ``batch_size`` rows decoding and refills a finished
row with the next sample at once. The schedule depends only on the documents (plan order) and the batch
size, never on timing, so a rerun gives the same answers; greedy answers equal the static batches'
(exact arithmetic; tested on the tiny model). Finished predictions are appended to the store (one
fsync) whenever a batch's worth has finished, and at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mg_eval.api import StreamingGenerator, TokenCountingGenerator
from mg_eval.engine.feed import PlannedSample, next_batch, open_feed
from mg_eval.results import store


def applies(generator: Any, generation: Mapping[str, Any]) -> bool:
    """True for greedy, single-beam decoding with a generator that can stream (``generate_stream``, and
    ``can_stream`` true when present: e.g. not for sliding-window LLMs); otherwise the static batches run."""
    return (isinstance(generator, StreamingGenerator) and bool(generator.can_stream)
            and not generation.get("do_sample") and int(generation.get("num_beams") or 1) == 1)


def run_continuous(generator: Any, task: Any, samples: Sequence[PlannedSample], batches: list[list[int]],
                   generation: Mapping[str, Any], writer: store.PredictionWriter, num_workers: int, progress: Any,
                   stored: Mapping[tuple[str, str], Any], protocol: str,
                   made_with: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Same contract as ``runner._run_batches``: new predictions by doc_id, and loop seconds. Each record
    carries ``made_with`` (as the static path: ``run_config.continuous`` says which scheduler ran) and, where the generator counts them, ``input_tokens``."""
    lengths_of = generator.input_lengths if isinstance(generator, TokenCountingGenerator) else None
    input_tokens: dict[int, int] = {}
    computed: dict[str, dict[str, Any]] = {}
    seconds = {"generate_s": 0.0, "data_wait_s": 0.0, "store_s": 0.0}
    if not batches:
        return computed, seconds
    loader = open_feed(task, samples, generator, protocol, batches, num_workers)
    prompts: dict[int, str] = {}

    def requests() -> Iterator[tuple[int, dict[str, Any]]]:
        for _ in batches:
            batch = next_batch(loader, seconds)
            prompts.update(zip(batch["indices"], batch["prompts"]))
            if lengths_of is not None:
                input_tokens.update(zip(batch["indices"], (int(n) for n in lengths_of(batch["inputs"]))))
            for index, request in zip(batch["indices"], generator.split_requests(batch["inputs"])):
                if (samples[index].doc_id, samples[index].fingerprint) not in stored:  # stored: kept, not redone
                    yield index, request

    flush_every = max(1, max(len(batch) for batch in batches))
    pending: list[dict[str, Any]] = []
    started = time.perf_counter()
    for index, response in generator.generate_stream(requests(), dict(generation), flush_every):
        sample = samples[index]
        if (sample.doc_id, sample.fingerprint) not in stored:
            record = {"doc_id": sample.doc_id, "fingerprint": sample.fingerprint, "prompt": prompts.pop(index),
                      "response": response, "made_with": dict(made_with)}
            if index in input_tokens:
                record["input_tokens"] = input_tokens.pop(index)
            pending.append(record)
        if len(pending) >= flush_every:
            seconds["store_s"] += _flush(writer, pending, computed, progress)
    seconds["store_s"] += _flush(writer, pending, computed, progress)
    seconds["generate_s"] = time.perf_counter() - started - seconds["data_wait_s"] - seconds["store_s"]
    threading.Thread(target=loader.close, name="mg-eval-loader-shutdown").start()
    return computed, seconds


def _flush(writer: store.PredictionWriter, pending: list[dict[str, Any]], computed: dict[str, dict[str, Any]],
           progress: Any) -> float:
    """Append ``pending`` to the store (one fsync), move them to ``computed``; returns the seconds spent."""
    if not pending:
        return 0.0
    started = time.perf_counter()
    writer.append(list(pending))
    computed.update((record["doc_id"], record) for record in pending)
    progress.update(len(pending))
    pending.clear()
    return time.perf_counter() - started
