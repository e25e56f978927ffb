"""Feeding samples to the model: a torch ``DataLoader`` whose worker processes decode and preprocess.

Image decoding (``task.doc_to_visual``), prompt rendering, tokenisation and image preprocessing
(``generator.prepare``) all run inside the loader's workers, in parallel with generation in the main
process. Batches are fixed in advance by the engine (``batch_sampler``), so the loader never changes
which samples share a batch.

A sample whose image cannot be decoded does not crash a worker with a long traceback: the worker
returns an error marker and the engine raises one ``DataError`` naming the task, the ``doc_id`` and
the fix, after the predictions made so far are already on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader, Dataset

from mg_eval.api import Generator, SampleWiseGenerator, TaskLike
from mg_eval.errors import DataError, user_error_from


@dataclass(frozen=True)
class PlannedSample:
    """One document with everything decided before generation (text, seed, fingerprint)."""

    index: int
    doc_id: str
    doc: Any
    text: str
    seed: int
    fingerprint: str


class SampleDataset(Dataset):
    """Map-style dataset over planned samples; ``__getitem__`` decodes the image and renders the prompt.

    With ``per_sample=True`` it also runs ``generator.prepare_sample`` (tokenise + preprocess one
    sample) so that the heavy work is spread over the workers sample by sample.
    """

    def __init__(self, task: TaskLike, samples: Sequence[PlannedSample], generator: Generator, protocol: str,
                 per_sample: bool = False):
        self.task = task
        self.protocol = protocol
        self.samples = list(samples)
        self.generator = generator
        self.per_sample = per_sample

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        try:
            visuals = self.task.doc_to_visual(sample.doc, self.protocol)
            image = visuals[0].convert("RGB") if visuals else None
        except Exception as exc:  # noqa: BLE001 - reported with the doc_id below
            return {"error": decode_error_message(self.task.name, sample.doc_id, exc)}
        try:  # a user-caused failure (e.g. mg_model's MGMInputError) becomes a marker, not a worker traceback
            prompt = self.generator.render_prompt(sample.text, has_image=image is not None)
            item = {"index": index, "doc_id": sample.doc_id, "image": image, "text": sample.text, "prompt": prompt}
            if self.per_sample:
                item["prepared"] = self.generator.prepare_sample(image, sample.text)
                item["image"] = None  # already preprocessed: do not ship the decoded image back
        except Exception as exc:
            user_error = user_error_from(exc)
            if user_error is None:
                raise
            return {"error": f"task {self.task.name}, doc_id {sample.doc_id}: the sample cannot be prepared "
                             f"({user_error}); fix it in the data file, then rerun (finished samples are kept)"}
        return item


def decode_error_message(task_name: str, doc_id: str, exc: BaseException) -> str:
    """One line naming the task, the sample, the image (a loader ``DataError`` names file and row) and the fix."""
    if isinstance(exc, DataError):  # the loader's message names the data file, the row and the image file
        reason = str(exc).rstrip(".").removesuffix("; replace the file")
    else:
        reason = f"the image could not be decoded ({type(exc).__name__}: {exc})"
    return (f"task {task_name}, doc_id {doc_id}: {reason}; replace or remove the file, or drop this "
            "sample from the data, then rerun the same command (finished samples are kept)")


class BatchCollator:
    """``collate_fn``: runs ``generator.prepare`` (tokenise + preprocess) in the worker."""

    def __init__(self, generator: Generator):
        self.generator = generator

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        errors = [item["error"] for item in items if "error" in item]
        if errors:
            return {"error": errors[0]}
        batch = self.generator.prepare([item["image"] for item in items], [item["text"] for item in items])
        return _batch_record(items, batch)


def _batch_record(items: list[dict[str, Any]], inputs: dict[str, Any]) -> dict[str, Any]:
    return {"inputs": inputs, "indices": [item["index"] for item in items],
            "doc_ids": [item["doc_id"] for item in items], "prompts": [item["prompt"] for item in items]}


def supports_per_sample(generator: Generator) -> bool:
    """True for a :class:`~mg_eval.api.SampleWiseGenerator` that says per-sample preparation is worth it
    (``per_sample_preprocessing``; ``MGMGenerator`` enables it for real image sizes)."""
    return isinstance(generator, SampleWiseGenerator) and bool(generator.per_sample_preprocessing)


def default_num_workers() -> int:
    """DataLoader workers: one core is left to the main process (1 on a 2-core box, at most 8)."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def make_loader(dataset: SampleDataset, batches: Sequence[Sequence[int]], num_workers: int) -> DataLoader:
    """A loader yielding the given batches (lists of dataset indices) in order, prepared by workers."""
    return DataLoader(
        dataset,
        batch_sampler=[list(batch) for batch in batches],
        collate_fn=BatchCollator(dataset.generator),
        num_workers=num_workers,
        prefetch_factor=2 if num_workers > 0 else None,
        persistent_workers=False,
    )


def iter_batches(dataset: SampleDataset, batches: Sequence[Sequence[int]], num_workers: int) -> Iterator[dict]:
    """Prepared batches in plan order: ``{"inputs", "indices", "doc_ids", "prompts"}`` or ``{"error"}``.

    When the generator supports it, workers prepare *samples* (so the first batch is ready after
    1/num_workers of a batch's preprocessing, and the load stays balanced) and the main process only
    collates (left padding + stacking, ~1 ms per batch). Otherwise each worker prepares whole batches.
    """
    if not dataset.per_sample:
        yield from make_loader(dataset, batches, num_workers)
        return
    largest = max((len(batch) for batch in batches), default=1)
    loader = DataLoader(
        dataset,
        sampler=[index for batch in batches for index in batch],
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=max(2, -(-2 * largest // num_workers)) if num_workers > 0 else None,
        persistent_workers=False,
    )
    items = iter(loader)
    for batch in batches:
        collected = [next(items) for _ in batch]
        errors = [item["error"] for item in collected if "error" in item]
        if errors:
            yield {"error": errors[0]}
            return
        yield _batch_record(collected, dataset.generator.collate([item["prepared"] for item in collected]))


def open_feed(task: TaskLike, samples: Sequence[PlannedSample], generator: Generator, protocol: str,
              batches: Sequence[Sequence[int]], num_workers: int) -> Iterator[dict]:
    """The prepared batches of ``batches`` in plan order (per-sample preparation where the generator wants it)."""
    dataset = SampleDataset(task, samples, generator, protocol, per_sample=supports_per_sample(generator))
    return iter_batches(dataset, batches, num_workers)


def next_batch(feed: Iterator[dict], seconds: dict[str, float]) -> dict:
    """The next prepared batch of ``feed``; the wait is added to ``seconds["data_wait_s"]``.

    Raises:
        DataError: a worker could not prepare a sample of the batch (names the task, doc_id and fix).
    """
    waited = time.perf_counter()
    batch = next(feed)
    seconds["data_wait_s"] += time.perf_counter() - waited
    if "error" in batch:
        raise DataError(batch["error"])
    return batch

