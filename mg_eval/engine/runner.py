"""The evaluation loop: models x tasks, batched, resumable, data-parallel.

``evaluate`` checks every input before any expensive work (tasks, checkpoints, output folder, data,
stored predictions), builds each model once, then for each task:

1. plans the samples: prompt text, per-sample seed and prediction fingerprint for every document;
2. cuts them into fixed batches (``plan_batches``: a function of the documents and batch size only);
3. skips batches whose predictions are already stored with the same fingerprint (resume);
4. streams the remaining batches of this rank through a ``DataLoader`` (workers decode + preprocess),
   generates, and appends every prediction to the fsync'd store as soon as the batch is done;
5. gathers the predictions on rank 0, scores them with the task and writes ``results.json`` +
   ``samples.jsonl`` (``mg_eval.engine.results``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from mg_eval.api import PROTOCOLS, RunOptions, TaskLike, TokenCountingGenerator
from mg_eval.backends import DecodingChoice, check_device, load_backend
from mg_eval.backends import check_run_options as check_backend_options
from mg_eval.engine import continuous, distributed, provenance, recording, task_stores
from mg_eval.engine.checks import check_prompts
from mg_eval.engine.feed import PlannedSample, default_num_workers, next_batch, open_feed
from mg_eval.engine.model_specs import (
    ModelSpec,
    decoding_choices,
    fingerprint_fields,
    model_specs,
    results_block,
)
from mg_eval.engine.planner import configure_sharing, doc_image_identity, image_order
from mg_eval.errors import DataError, UserInputError
from mg_eval.models.base import GENERATION_KEYS, Generator, sample_seed
from mg_eval.results import records as results
from mg_eval.results import store


@dataclass
class RunResult:
    """One finished (model, task, protocol) run. On ranks other than 0, ``results`` is ``None``."""

    model_name: str
    task_name: str
    protocol: str
    run_dir: Path | None
    results: dict[str, Any] | None
    n_computed: int = 0
    n_resumed: int = 0
    timing: dict[str, float] = field(default_factory=dict)


def check_output_dir(output_dir: str | os.PathLike) -> Path:
    """Create ``output_dir`` and prove it is writable, or raise ``UserInputError`` naming it."""
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UserInputError(f"output directory {folder} is not writable ({exc.strerror or exc}); pass "
                             "--output DIR with a folder you can write to") from None
    return folder


def resolve_task_objects(tasks: Sequence[str | TaskLike]) -> list[TaskLike]:
    """Task names / group names / Task objects -> Task objects (unknown names raise ``UserInputError``)."""
    names = [task for task in tasks if isinstance(task, str)]
    objects = [task for task in tasks if not isinstance(task, str)]
    if names:
        from mg_eval.tasks import resolve_tasks

        objects = list(resolve_tasks(names)) + objects
    if not objects:
        raise UserInputError("no tasks given; pass --tasks NAME[,NAME...] (see `mg-eval tasks`)")
    return objects


def generation_for(task: TaskLike, protocol: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task's generation kwargs for ``protocol`` with ``overrides`` applied (e.g. a max_new_tokens cap)."""
    generation = {key: value for key, value in dict(task.generation_kwargs(protocol)).items()
                  if key in GENERATION_KEYS}
    for key, value in (overrides or {}).items():
        if key == "max_new_tokens_cap":
            generation["max_new_tokens"] = min(int(generation.get("max_new_tokens", value)), int(value))
        else:
            generation[key] = value
    return generation


def plan_samples(task: TaskLike, docs: Sequence[Mapping[str, Any]], protocol: str, generation: Mapping[str, Any],
                 identity: Mapping[str, Any]) -> list[PlannedSample]:
    """Text, seed and fingerprint of every document (cheap: no image is decoded here).

    Raises ``DataError`` on a duplicated ``doc_id`` (it would make resume ambiguous).
    """
    seen: set[str] = set()
    planned = []
    for index, doc in enumerate(docs):
        doc_id = str(doc["doc_id"])
        if doc_id in seen:
            raise DataError(f"task {task.name}: doc_id {doc_id!r} appears twice; doc_ids must be unique "
                            "(fix the task's data file)")
        seen.add(doc_id)
        text = task.doc_to_text(doc, protocol)
        seed = sample_seed(generation.get("seed"), doc_id)
        fingerprint = store.prediction_fingerprint(text=text, generation=dict(generation), seed=seed, **identity)
        planned.append(PlannedSample(index, doc_id, doc, text, seed, fingerprint))
    return planned


def plan_batches(samples: Sequence[PlannedSample], batch_size: int, do_sample: bool,
                 image_identities: Sequence[str | None] | None = None) -> list[list[int]]:
    """Fixed batches of sample indices: longest prompt text first (less padding), ties by document order.

    Depends only on the samples and the batch size, never on the world size or on what is already
    stored, so every run of the same command builds the same batches. Sampling tasks get batch 1
    (per-sample seeding; see ``mg_eval.models.base``). The first two batches hold a quarter and a half
    of ``batch_size`` (a ramp-up): the model starts once a quarter batch is preprocessed, while the
    DataLoader workers fill the next, larger batches, instead of idling through a full batch.
    With ``image_identities`` (sharing on; ``planner.doc_image_identity`` per sample) the samples of one
    image are moved next to the first of them, so they share a batch (``planner.image_order``).
    """
    size = 1 if do_sample else max(1, int(batch_size))
    order = sorted(range(len(samples)), key=lambda i: (-len(samples[i].text), i))
    if image_identities is not None:
        order = image_order(order, image_identities)
    sizes = [size // 4, size // 2] if size >= 4 else []  # ramp-up: the model starts after a quarter batch
    batches, start = [], 0
    while start < len(order):
        step = sizes.pop(0) if sizes else size
        batches.append(order[start:start + step])
        start += step
    return batches


def _generate_batch(generator: Generator, batch: dict[str, Any], samples: Sequence[PlannedSample],
                    generation: Mapping[str, Any]) -> tuple[list[str], float]:
    """Responses for one prepared batch and the seconds spent in ``generate``."""
    started = time.perf_counter()
    if generation.get("do_sample"):
        torch.manual_seed(samples[0].seed)  # sampling batches hold one sample (plan_batches)
    responses = generator.generate(batch["inputs"], dict(generation))
    return responses, time.perf_counter() - started


def _run_batches(generator: Generator, task: TaskLike, samples: Sequence[PlannedSample], batches: list[list[int]],
                 generation: Mapping[str, Any], writer: store.PredictionWriter, num_workers: int,
                 progress: tqdm, stored: Mapping[tuple[str, str], Any],
                 protocol: str, made_with: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Generate ``batches``, appending each batch's predictions to the store as soon as they exist.

    A batch is always generated whole (same batch as an uninterrupted run); samples of it that are
    already stored keep their stored prediction and are not written again. Returns the new
    predictions by doc_id and the seconds spent in ``generate``, waiting for data and writing the store.
    """
    computed: dict[str, dict[str, Any]] = {}
    seconds = {"generate_s": 0.0, "data_wait_s": 0.0, "store_s": 0.0}
    if not batches:
        return computed, seconds
    loader = open_feed(task, samples, generator, protocol, batches, num_workers)
    for _ in batches:
        batch = next_batch(loader, seconds)
        batch_samples = [samples[index] for index in batch["indices"]]
        responses, generate_s = _generate_batch(generator, batch, batch_samples, generation)
        seconds["generate_s"] += generate_s
        records = provenance.prediction_records(generator, batch, batch_samples, responses, stored, made_with)
        written = time.perf_counter()
        writer.append(records)
        seconds["store_s"] += time.perf_counter() - written
        computed.update((record["doc_id"], record) for record in records)
        progress.update(len(records))
    # every batch is in: let the loader's workers shut down off the critical path (joined at exit)
    threading.Thread(target=loader.close, name="mg-eval-loader-shutdown").start()
    return computed, seconds


def _score(task: TaskLike, samples: Sequence[PlannedSample], predictions: Mapping[str, dict[str, Any]], protocol: str,
           judge: Any, progress: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(aggregate scores, per-sample lines for samples.jsonl) in document order."""
    lines = []
    for sample in samples:
        prediction = predictions[sample.doc_id]
        record = dict(task.process_result(sample.doc, prediction["response"], protocol))
        record.pop("doc_id", None)
        lines.append({"doc_id": sample.doc_id, "prompt": prediction["prompt"], "response": prediction["response"],
                      "fingerprint": sample.fingerprint, "made_with": prediction.get("made_with"), **record})
    from mg_eval.judges.prefetch import score_with_judge  # judge calls made concurrently, same result

    scores = dict(score_with_judge(lambda j: task.aggregate(lines, protocol, judge=j), judge, progress=progress))
    return scores, lines


def _missing_batches(samples: Sequence[PlannedSample], batches: Sequence[list[int]],
                     stored: Mapping[tuple[str, str], Any]) -> tuple[list[list[int]], int]:
    """Batches with at least one sample not stored under its fingerprint, and how many such samples."""
    def missing(index: int) -> bool:
        return (samples[index].doc_id, samples[index].fingerprint) not in stored

    todo = [batch for batch in batches if any(missing(index) for index in batch)]
    return todo, sum(missing(index) for batch in todo for index in batch)


def _timing(gathered: Sequence[Mapping[str, Any]], started_at: _dt.datetime, wall_start: float,
            n_computed: int) -> dict[str, Any]:
    """The ``timing`` block: wall time of rank 0, loop seconds summed over ranks, throughput."""
    wall_s = time.perf_counter() - wall_start
    return {"started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(wall_s, 3),
            **{key: round(sum(part[key] for part in gathered), 3) for key in ("generate_s", "data_wait_s", "store_s")},
            "samples_per_s": round(n_computed / wall_s, 3) if wall_s > 0 and n_computed else None}


class _TaskRun:
    """State of one (model, task) evaluation; ``run()`` does the work."""

    def __init__(self, spec: ModelSpec, generator: Generator, task: TaskLike, docs: list, options: RunOptions,
                 context: distributed.DistContext, lock: store.StoreLock | None, decoding: DecodingChoice):
        self.spec, self.generator, self.task, self.docs = spec, generator, task, docs
        self.options, self.context, self.lock, self.decoding = options, context, lock, decoding
        self.task_dir = task_stores.task_dir(options.output_dir, spec.name, task)

    def run(self) -> RunResult:
        """Plan, skip what is stored, generate this rank's share, gather; rank 0 scores and writes."""
        protocol = self.options.protocol
        started_at = _dt.datetime.now(_dt.timezone.utc)
        wall_start = time.perf_counter()
        generation = dict(self.decoding.generation)
        identity = {"weights_hash": self.generator.info["weights_hash"], "task_fingerprint": self.task.fingerprint(protocol),
                    "task_version": str(self.task.version), "protocol": protocol,
                    "template": self.generator.template_id, **provenance.encoder_identity(self.generator.info),
                    **fingerprint_fields(self.spec)}
        if self.generator.info.get("decode") is not None:  # attention kernel, cache, compile can change numerics
            identity["decode"] = self.generator.info["decode"]
        samples = plan_samples(self.task, self.docs, protocol, generation, identity)
        share = configure_sharing(self.generator, self.options.share)
        batches = plan_batches(samples, self.options.batch_size, bool(generation.get("do_sample")),
                               [doc_image_identity(sample.doc) for sample in samples] if share else None)
        header = task_stores.store_header(self.spec.name, self.task, protocol, self.generator.info.get("dtype"),
                                          self.spec.backend_name)
        stored = store.load_predictions(self.task_dir, protocol, header)
        mine = distributed.shard(batches, self.context)
        todo, n_todo = _missing_batches(samples, mine, stored)
        progress = tqdm(total=n_todo, unit="sample", desc=f"{self.spec.name}/{self.task.name}",
                        disable=not (self.context.is_main and self.options.progress and n_todo),
                        dynamic_ncols=True)
        path = store.store_path(self.task_dir, protocol, self.context.rank, self.context.world_size)
        made_with = {"batch_size": 1 if generation.get("do_sample") else self.options.batch_size,
                     "device": self.generator.info.get("device"),
                     "prompt": provenance.prompt_source(self.generator, protocol)}
        with progress, store.PredictionWriter(path, header, lock=self.lock) as writer:
            run_batches = _run_batches
            if self.options.continuous and continuous.applies(self.generator, generation):
                run_batches = continuous.run_continuous  # refill finished rows (same contract)
            computed, loop_seconds = run_batches(self.generator, self.task, samples, todo, generation, writer,
                                                 self.options.num_workers, progress, stored, protocol, made_with)
        own = {samples[i].doc_id: computed.get(samples[i].doc_id) or stored[(samples[i].doc_id, samples[i].fingerprint)]
               for batch in mine for i in batch}
        gathered = distributed.gather_to_main(
            {"predictions": own, "computed": len(computed), **loop_seconds}, self.context)
        result = RunResult(self.spec.name, self.task.name, protocol, None, None, n_computed=len(computed),
                           n_resumed=len(own) - len(computed))
        if gathered is not None:
            result = self._finish(samples, gathered, generation, started_at, wall_start)
        distributed.barrier(self.context)
        return result

    def _finish(self, samples: list[PlannedSample], gathered: list[dict[str, Any]], generation: dict[str, Any],
                started_at: _dt.datetime, wall_start: float) -> RunResult:
        """Rank 0: merge, score, write the run directory."""
        protocol = self.options.protocol
        predictions: dict[str, dict[str, Any]] = {}
        for part in gathered:
            predictions.update(part["predictions"])
        missing = [sample.doc_id for sample in samples if sample.doc_id not in predictions]
        if missing:
            raise RuntimeError(f"task {self.task.name}: no prediction for doc_ids {missing[:5]} after gathering "
                               "(a rank lost its share); rerun the same command to fill them in")
        judge = recording.judge_for(self.options.judge, self.task)
        judge_stats_before = recording.judge_stats(judge)
        scores, lines = _score(self.task, samples, predictions, protocol, judge,
                               progress=self.options.progress)
        n_computed = sum(part["computed"] for part in gathered)
        timing = _timing(gathered, started_at, wall_start, n_computed)
        limit = self.options.limit
        run_id = results.new_run_id(protocol, limit)
        record = results.make_results(
            run_id=run_id,
            model={key: self.generator.info.get(key) for key in
                   ("name", "path", "weights_hash", "encoders", "config", "dtype", "device", "device_map", "decode")}
            | {"name": self.spec.name} | ({"training": self.spec.training} if self.spec.training else {}),
            task={"name": self.task.name, "benchmark": self.task.benchmark,
                  "version": self.task.version, "fingerprint": self.task.fingerprint(protocol),
                  "config": recording.task_config(self.task, protocol), "data_path": self.options.data_paths.get(self.task.name)},
            protocol=protocol,
            generation=generation | {"stop_strings": list(self.generator.info.get("stop_strings") or [])},
            scores=scores,
            primary_metric=self.task.primary_metric,
            n_samples={"total": len(samples), "computed": n_computed, "resumed": len(samples) - n_computed,
                       "truncated": provenance.count_truncated(predictions.values(), self.generator)},
            limit=limit,
            judge=getattr(judge, "name", None) if judge is not None else None,
            seeds={"task_seed": generation.get("seed"), "per_sample": "sha256(task_seed:doc_id) -> 31 bits"},
            timing=timing,
            run_config={"batch_size": self.options.batch_size, "world_size": self.context.world_size,
                        "num_workers": self.options.num_workers, "output_dir": str(self.options.output_dir),
                        "limit": limit, "generation_overrides": self.options.generation_overrides,
                        "continuous": self.options.continuous, "share": recording.sharing_report(self.generator),
                        "context_length": (self.generator.context_length
                                           if isinstance(self.generator, TokenCountingGenerator) else None),
                        "predictions_made_with": provenance.made_with_summary(predictions.values())},
            device=self.generator.info.get("device"),
            extra={"judge": recording.judge_report_for_results(judge, judge_stats_before)},
            not_for_reporting=provenance.protocol_departures(self.task, protocol, self.options)
            + ([self.decoding.departure] if self.decoding.departure else []),
            backend=results_block(self.spec, self.decoding),
        )
        directory = results.write_run(results.run_dir(self.options.output_dir, self.spec.name, self.task.name, run_id),
                                      record, lines)
        return RunResult(self.spec.name, self.task.name, protocol, directory, record, n_computed=n_computed,
                         n_resumed=len(samples) - n_computed, timing=timing)


def evaluate(model_path: Any, tasks: Sequence[str | TaskLike], *, options: RunOptions | None = None,
             **settings: Any) -> list[RunResult]:
    """Evaluate one or more models on tasks; returns one ``RunResult`` per (model, task).

    ``model_path``: a checkpoint path, a ``Generator``, or a list of them. ``tasks``: task or group
    names (``"mgm_paper"``) or Task objects. The run settings are a :class:`mg_eval.api.RunOptions`
    (``options=``; ``mg-eval run`` builds it from its flags, ``mg_eval.cli.run_options``) or its fields as
    keywords (``evaluate(model, tasks, batch_size=4, limit=10)``: the names and defaults are RunOptions' own),
    not both: passing ``options`` and keywords raises ``TypeError``, as does a keyword RunOptions has no
    field for. Under torchrun / accelerate with ``WORLD_SIZE > 1`` the work is sharded and rank 0 writes results.
    """
    if options is not None and settings:
        raise TypeError(f"evaluate() takes options= or run-setting keywords, not both (got options and "
                        f"{', '.join(sorted(settings))}); use dataclasses.replace(options, ...) to change a field")
    if options is None:
        options = RunOptions.from_keywords(**settings)
    return _evaluate(model_path, tasks, options)


def check_run_options(options: RunOptions) -> None:
    """``UserInputError`` naming the flag for a bad run setting (before any data or checkpoint is read; callers
    with expensive work before ``evaluate``, e.g. ``mg-eval ablate --train``, call it first). The backend's
    own checks (its capabilities, its options) are :func:`mg_eval.backends.check_run_options`."""
    protocol, limit = options.protocol, options.limit
    if protocol not in PROTOCOLS:
        raise UserInputError(f"unknown --protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if limit is not None and int(limit) < 1:
        raise UserInputError(f"--limit must be a positive number of samples, got {limit}")
    if int(options.batch_size) < 1:
        raise UserInputError(f"--batch-size must be >= 1, got {options.batch_size}")
    if options.encoder_root is not None and not Path(options.encoder_root).expanduser().is_dir():
        raise UserInputError(f"--encoder-root {options.encoder_root} is not a directory; pass the folder that holds "
                             "model_zoo/OpenAI/... (or the two encoder folders)")
    if options.num_workers is not None and int(options.num_workers) < 0:
        raise UserInputError(f"--num-workers must be >= 0 (0 = decode images in the main process), "
                             f"got {options.num_workers}")
    cap = (options.generation_overrides or {}).get("max_new_tokens_cap")
    if cap is not None and (not isinstance(cap, int) or cap < 1):
        raise UserInputError(f"--max-new-tokens-cap must be >= 1 (a cap on generated tokens), got {cap}")
    check_device(options.device)
    check_device(options.device_map, flag="--device-map")


def _evaluate(model_path: Any, tasks: Sequence[str | TaskLike], options: RunOptions) -> list[RunResult]:
    context = distributed.init()
    models = model_path if isinstance(model_path, (list, tuple)) else [model_path]
    if not all(isinstance(model, Generator) for model in models):  # what the backend supports: cheap, first
        check_backend_options(load_backend(options.backend), options, context.world_size)
    check_run_options(options)
    protocol, limit = options.protocol, options.limit
    task_objects = resolve_task_objects(tasks)
    output = check_output_dir(options.output_dir)
    data_paths = dict(options.data_paths or {})
    docs = {task.name: task.load(data_path=data_paths.get(task.name), limit=limit) for task in task_objects}
    for task in task_objects:
        check_prompts(task, docs[task.name], protocol)
    # after the data: its checks are cheaper than opening the checkpoint; the backend checks its models
    specs = model_specs(models, options, context.world_size)
    generations = {task.name: generation_for(task, protocol, options.generation_overrides) for task in task_objects}
    choices = {spec.name: decoding_choices(spec, generations) for spec in specs}  # unsupported decoding fails now
    options = dataclasses.replace(
        options, batch_size=int(options.batch_size), output_dir=output, data_paths=data_paths,
        num_workers=default_num_workers() if options.num_workers is None else int(options.num_workers),
        generation_overrides=dict(options.generation_overrides) if options.generation_overrides else None)

    outcomes: list[RunResult] = []
    for spec in specs:
        run_dtype = spec.generator.info.get("dtype") if spec.generator else spec.backend.run_dtype(options)
        with contextlib.ExitStack() as held:  # store locks: taken before --fresh deletes or the model loads
            locks = task_stores.lock_stores(held, spec.name, task_objects, protocol, output, context)
            task_stores.prepare_stores(spec.name, task_objects, protocol, run_dtype, output, options.fresh, context,
                                       spec.backend_name)
            generator = spec.generator or spec.backend.build(
                spec.path, options, context, **({"adapter": spec.adapter} if spec.adapter else {}))
            for task in task_objects:
                outcomes.append(_TaskRun(spec, generator, task, docs[task.name], options, context,
                                         locks[task.name], choices[spec.name][task.name]).run())
            del generator  # one model in memory at a time: freed before the next spec's model is built
    return outcomes

