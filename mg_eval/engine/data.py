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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader, Dataset

from mg_eval.models.base import Generator


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
    """Map-style dataset over planned samples; ``__getitem__`` decodes the image and renders the prompt."""

    def __init__(self, task: Any, samples: Sequence[PlannedSample], generator: Generator, protocol: str):
        self.task = task
        self.protocol = protocol
        self.samples = list(samples)
        self.generator = generator

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        try:
            visuals = self.task.doc_to_visual(sample.doc, self.protocol)
            image = visuals[0].convert("RGB") if visuals else None
        except Exception as exc:  # noqa: BLE001 - reported with the doc_id below
            return {"error": (f"task {self.task.name}, doc_id {sample.doc_id}: the image could not be decoded "
                              f"({type(exc).__name__}: {exc}); replace or remove the file, or drop this "
                              "sample from the data, then rerun the same command (finished samples are kept)")}
        prompt = self.generator.render_prompt(sample.text, has_image=image is not None)
        return {"index": index, "doc_id": sample.doc_id, "image": image, "text": sample.text, "prompt": prompt}


class BatchCollator:
    """``collate_fn``: runs ``generator.prepare`` (tokenise + preprocess) in the worker."""

    def __init__(self, generator: Generator):
        self.generator = generator

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        errors = [item["error"] for item in items if "error" in item]
        if errors:
            return {"error": errors[0]}
        batch = self.generator.prepare([item["image"] for item in items], [item["text"] for item in items])
        return {"inputs": batch, "indices": [item["index"] for item in items],
                "doc_ids": [item["doc_id"] for item in items], "prompts": [item["prompt"] for item in items]}


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
