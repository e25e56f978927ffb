"""``Task``: one benchmark task built from its YAML (the interface the engine uses; docs/architecture.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from mg_eval.api import PROTOCOLS, Benchmark, SampleRecord
from mg_eval.errors import UserInputError
from mg_eval.tasks.config import FunctionRef, TaskConfig
from mg_eval.tasks.loaders import data_fingerprint, load_docs, open_image

__all__ = ["GENERATION_DEFAULTS", "Task"]

#: generation settings every protocol resolves (a task YAML states only what differs) (``seed`` is ``None`` for deterministic decoding).
GENERATION_DEFAULTS = {"max_new_tokens": 128, "do_sample": False, "temperature": 0.0, "top_p": None,
                        "num_beams": 1, "seed": None}


class Task:
    """A benchmark task: data loading, prompts per protocol, per-sample scoring and aggregation.

    Built from a validated :class:`~mg_eval.tasks.config.TaskConfig`; ``!function`` references are
    imported on first use.
    """

    def __init__(self, config: TaskConfig, declaration: Benchmark | None = None) -> None:
        self.config = config
        #: the benchmark folder's declaration (``benchmark.yaml``), or ``None`` if the folder has none
        self.declaration = declaration
        self.name = config.task
        self.benchmark = config.folder.name
        self.version = config.version
        self.primary_metric = config.metric_list[0].metric

    def __repr__(self) -> str:
        return f"Task({self.name!r}, benchmark={self.benchmark!r}, version={self.version!r})"

    # ---------------------------------------------------------------------------------------- data

    @property
    def sample_path(self) -> Path | None:
        """The bundled sample data (official on-disk schema), or ``None`` if the task ships none."""
        return self.config.folder / self.config.sample if self.config.sample else None

    def load(self, data_path: str | Path | None = None, limit: int | None = None) -> list[dict]:
        """Schema-checked docs (see :func:`mg_eval.tasks.loaders.load_docs`); each has a str ``doc_id``."""
        return load_docs(self.config, data_path, limit)

    def data_fingerprint(self, data_path: str | Path | None = None) -> dict[str, Any]:
        """Provenance of the data ``load(data_path)`` reads (hub revision, or local path + content hash)."""
        return data_fingerprint(self.config, data_path)

    def load_sample(self, limit: int | None = None) -> list[dict]:
        """Docs of the bundled sample data.

        Raises:
            UserInputError: the task ships no sample data.
        """
        if self.sample_path is None:
            raise UserInputError(f"task {self.name} ships no sample data ('sample:' is not set in its YAML).")
        return self.load(self.sample_path, limit)

    # ------------------------------------------------------------------------------------- prompts

    def _protocol(self, protocol: str):
        if protocol not in self.config.protocols:
            raise UserInputError(f"unknown protocol {protocol!r} for task {self.name}; choose one of {', '.join(PROTOCOLS)}.")
        return self.config.protocols[protocol]

    def prompt_config(self, protocol: str) -> dict[str, Any]:
        """The prompt pieces of ``protocol`` (recorded in results)."""
        return dict(self._protocol(protocol).prompt)

    def doc_to_visual(self, doc: Mapping, protocol: str = "mgm") -> list[Image.Image]:
        """Decoded RGB images of ``doc`` for ``protocol`` (``[]`` for a text-only doc).

        Without a ``doc_to_visual`` in the YAML: the images of ``image_fields``, then those of
        ``optional_image_fields`` that are set, in the YAML's order.
        ``protocol`` matters only where the protocols feed different images (MMMU: the official MGM
        runner feeds ``image_1`` only; lmms-eval feeds every ``<image k>`` referenced).
        """
        prompt = self._protocol(protocol).prompt
        if self.config.doc_to_visual is not None:
            return list(self.config.doc_to_visual(doc, prompt=prompt))
        fields = (*self.config.image_fields, *self.config.optional_image_fields)
        return [open_image(doc[field]) for field in fields if doc.get(field) is not None]

    def doc_to_text(self, doc: Mapping, protocol: str) -> str:
        """The user message for ``doc`` under ``protocol``, without any ``<image>`` token."""
        return self.config.doc_to_text(doc, prompt=self._protocol(protocol).prompt)

    def doc_to_target(self, doc: Mapping) -> Any:
        """The ground truth of ``doc`` (a column value, or what the YAML's function returns)."""
        target = self.config.doc_to_target
        if isinstance(target, FunctionRef):
            return target(doc)
        return doc[target]

    def generation_kwargs(self, protocol: str) -> dict[str, Any]:
        """Decoding settings: ``max_new_tokens, do_sample, temperature, top_p, num_beams, seed``."""
        kwargs = dict(GENERATION_DEFAULTS)
        kwargs.update({k: v for k, v in self._protocol(protocol).generation_kwargs.items() if k != "until"})
        kwargs["temperature"] = float(kwargs["temperature"])
        return kwargs

    # ------------------------------------------------------------------------------------- scoring

    def process_result(self, doc: Mapping, response: str, protocol: str) -> SampleRecord:
        """Per-sample record (JSON-serialisable): ``doc_id``, ``target``, ``response`` and the scorer's fields."""
        self._protocol(protocol)
        record = self.config.process_results(doc, response)
        return {"doc_id": str(doc["doc_id"]), "target": _jsonable(self.doc_to_target(doc)),
                "response": response, **record}

    def aggregate(self, records: Iterable[Mapping], protocol: str, judge: Any = None) -> dict[str, Any]:
        """Every score and sub-score from per-sample records; ``n_ungraded`` where a judge step applies."""
        self._protocol(protocol)
        records = list(records)
        scores: dict[str, Any] = {}
        seen: set[str] = set()
        for metric in self.config.metric_list:
            if metric.aggregation.dotted in seen:
                continue
            seen.add(metric.aggregation.dotted)
            scores.update(metric.aggregation(records, judge=judge))
        missing = [m.metric for m in self.config.metric_list if m.metric not in scores]
        if missing:
            raise UserInputError(f"{self.config.yaml_file}: aggregation did not return metric(s) {missing}.")
        return scores

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """``metric -> higher_is_better`` for the YAML's metric_list."""
        return {m.metric: m.higher_is_better for m in self.config.metric_list}

    def fingerprint(self, protocol: str) -> str:
        """Hash of task name, version, data source, prompt config and generation kwargs (16 hex chars)."""
        payload = {"task": self.name, "version": self.version, "dataset": self.config.dataset_path,
                   "dataset_name": self.config.dataset_name, "revision": self.config.revision,
                   "split": self.config.test_split, "protocol": protocol,
                   "prompt": self.prompt_config(protocol), "generation": self.generation_kwargs(protocol)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    """Lists/tuples/numpy values -> plain JSON types (targets come straight from dataset rows)."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value
