"""The re-scoring flow: detect the format, read, aggregate, and write a results record."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mg_eval.errors import DataError, UserInputError
from mg_eval.rescore import samples
from mg_eval.rescore.base import SCORER_VERSION, PredictionFormat, ScoreOptions, ScoreResult
from mg_eval.tasks import get_task, list_benchmarks

__all__ = ["SAMPLES_FORMAT", "detect_format", "prediction_formats", "score_predictions", "write_score_results",
           "PER_SAMPLE_KEY"]

#: Name of our own run output format (samples.jsonl + results.json), scored by the task's aggregate.
SAMPLES_FORMAT = "samples"


def prediction_formats(root: Path | None = None) -> dict[str, PredictionFormat]:
    """Every official prediction format the benchmarks under ``root`` declare, by name, in detection order.

    Raises:
        UserInputError: two benchmarks declare the same format name.
    """
    formats: dict[str, PredictionFormat] = {}
    declared = [fmt for benchmark in list_benchmarks(root) for fmt in benchmark.prediction_formats]
    for fmt in sorted(declared, key=lambda f: (f.priority, f.name)):
        if fmt.name in formats:
            raise UserInputError(f"prediction format {fmt.name!r} is declared by both {formats[fmt.name].benchmark} "
                                 f"and {fmt.benchmark}; rename one in its benchmark.yaml.")
        formats[fmt.name] = fmt
    return formats

#: ``benchmark -> Judge | None``: builds the judge when a judge-free pass leaves samples ungraded.
JudgeFactory = Callable[[str], Any]
#: Key under which aggregates return per-sample detail. It stays in ``scores`` as in a run's results.json
#: (``mg_eval.analysis`` reads it); ``to_samples`` also turns it into each sample's ``score``.
PER_SAMPLE_KEY = "per_sample"


def detect_format(path: str | os.PathLike, task: str | None = None) -> str:
    """The format name of ``path`` (``samples`` or a name of :func:`prediction_formats`).

    Every declared format is asked; exactly one may claim the file. ``task`` (a task name) keeps only the
    formats of that task, or else of its benchmark, so a file several formats read can still be scored.

    Raises:
        UserInputError: nothing matches (the message lists the formats and ``--format``), or several formats
            claim the file (the message names them and says to pass ``--format`` or ``--task``).
    """
    target = Path(path)
    if not target.exists():
        raise UserInputError(f"{target}: no such file or directory.")
    if samples.detect(target):
        return SAMPLES_FORMAT
    formats = prediction_formats()
    claims = [name for name, fmt in formats.items() if fmt.detect(target)]
    if task is not None and claims:
        claims = _claims_of_task(claims, formats, task)
    if len(claims) == 1:
        return claims[0]
    if claims:
        named = ", ".join(f"{name} ({formats[name].task})" for name in claims)
        raise UserInputError(f"{target}: several prediction formats could read this file: {named}; pass "
                             f"--format NAME (or --task TASK) to say which benchmark it belongs to.")
    listing = "\n".join(f"  {name}: {fmt.description}" for name, fmt in formats.items())
    among = f" of task {task}" if task is not None else ""
    raise UserInputError(f"{target}: cannot tell which prediction format{among} this is; pass --format, one of:\n"
                         f"  {SAMPLES_FORMAT}: a run directory or samples.jsonl of `mg-eval run`\n{listing}")


def _claims_of_task(claims: list[str], formats: Mapping[str, PredictionFormat], task: str) -> list[str]:
    """The claiming formats of ``task`` itself, else those of its benchmark (unknown task: UserInputError)."""
    own = [name for name in claims if formats[name].task == task]
    if own:
        return own
    benchmark = get_task(task).benchmark
    return [name for name in claims if formats[name].benchmark == benchmark]


def _aggregate_with_judge(aggregate: Callable[[Any], dict], judge: Any, judge_factory: JudgeFactory | None,
                          benchmark: str) -> tuple[dict, Any]:
    """``aggregate(judge)``; with a factory, a judge-free pass first and a judge only if a sample needs one.

    With a judge the calls are made concurrently first (``mg_eval.judges.prefetch.score_with_judge``), which
    changes nothing in the result. Returns the scores and the judge actually used (or ``None``).
    """
    if judge is None and judge_factory is not None:
        scores = aggregate(None)
        if not scores.get("n_ungraded"):
            return scores, None
        judge = judge_factory(benchmark)
    if judge is None:
        return aggregate(None), None
    from mg_eval.judges.prefetch import score_with_judge

    return score_with_judge(aggregate, judge), judge


def _score_official(target: Path, fmt: PredictionFormat, judge: Any, judge_factory: JudgeFactory | None,
                    options: ScoreOptions) -> ScoreResult:
    records = fmt.read(target, options=options)
    scores, used = _aggregate_with_judge(lambda j: fmt.aggregate(records, judge=j, options=options), judge,
                                         judge_factory if fmt.needs_judge else None, fmt.benchmark)
    sample_lines = fmt.to_samples(records, scores)
    return ScoreResult(task=fmt.task, benchmark=fmt.benchmark, source_format=fmt.name, source=str(target),
                       scores=scores, primary_metric=fmt.primary_metric, n_samples=len(records),
                       samples=sample_lines, judge=getattr(used, "name", None), judge_object=used)


def _score_samples(target: Path, judge: Any, judge_factory: JudgeFactory | None, task_name: str | None,
                   protocol: str | None) -> ScoreResult:
    task_name, protocol, record = samples.run_metadata(target, task_name, protocol)
    task = get_task(task_name)
    samples.check_run_task(target, record, task)
    records = samples.read_samples(target)
    try:
        scores, used = _aggregate_with_judge(lambda j: task.aggregate(records, protocol, judge=j), judge,
                                             judge_factory, task.benchmark)
    except KeyError as exc:  # a field the task's scorer needs is not in the samples: they are another task's
        raise DataError(f"{samples.locate(target)[0]}: the samples have no field {exc} that task {task.name}'s "
                        f"scorer needs; they were not written by {task.name} (pass the run's own --task, "
                        "or rerun `mg-eval run` for this task)") from None
    lines = [dict(record) for record in records]  # as the run wrote them; per-sample detail is in scores
    return ScoreResult(task=task.name, benchmark=task.benchmark, source_format=SAMPLES_FORMAT, source=str(target),
                       scores=scores, primary_metric=task.primary_metric, n_samples=len(records),
                       samples=lines, protocol=protocol, judge=getattr(used, "name", None),
                       task_version=str(task.version), judge_object=used)


def score_predictions(
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    judge: Any = None,
    judge_factory: JudgeFactory | None = None,
    options: ScoreOptions | None = None,
    task: str | None = None,
    protocol: str | None = None,
) -> ScoreResult:
    """Score a prediction file or folder without a model.

    Args:
        path: the predictions (file or folder; see :func:`prediction_formats` and ``samples``).
        fmt: format name; detected from ``path`` when ``None``.
        judge: judge for the judge-dependent steps (``None``: those samples are reported as ungraded).
        judge_factory: instead of ``judge``: ``benchmark -> Judge | None``, called only when a judge-free
            pass leaves samples ungraded (so stored extractions / grades need no API key).
        options: annotation / grade files and MM-Vet runs.
        task: for ``samples``, overrides what ``results.json`` says; for an official file, picks among the
            formats that claim it and is recorded as the task (a task of the format's benchmark).
        protocol: for ``samples`` only, overrides what ``results.json`` says.
    Raises:
        UserInputError / DataError: unknown format, unreadable file, missing field (named in the message).
    """
    target = Path(path)
    name = fmt or detect_format(target, task)
    if name == SAMPLES_FORMAT:
        return _score_samples(target, judge, judge_factory, task, protocol)
    formats = prediction_formats()
    if name not in formats:
        raise UserInputError(f"unknown format {name!r}; choose one of {', '.join([SAMPLES_FORMAT, *formats])}.")
    if not target.exists():
        raise UserInputError(f"{target}: no such file or directory.")
    own_task = _task_of_format(formats[name], task) if task is not None else formats[name].task
    result = _score_official(target, formats[name], judge, judge_factory, options or ScoreOptions())
    result.task = own_task
    return result


def _task_of_format(fmt: PredictionFormat, task: str) -> str:
    """``--task`` with an official format: a task of the format's benchmark (recorded as the run's task)."""
    if task == fmt.task:
        return task
    benchmark = get_task(task).benchmark
    if benchmark != fmt.benchmark:
        raise UserInputError(f"--task {task} is a task of {benchmark}, but format {fmt.name} holds {fmt.benchmark} "
                             f"predictions (task {fmt.task}); drop --task or pass the format of {benchmark}.")
    return task


def write_score_results(
    result: ScoreResult, output_root: str | os.PathLike, model_name: str, judge_info: Mapping | None = None
) -> Path:
    """Write ``results.json`` + ``samples.jsonl`` under ``<root>/<model>/<task>/<run_id>/``; returns the dir.

    The record follows ``results/SCHEMA.md``; there is no model, so ``model.path`` and ``weights_hash`` are
    ``null`` and ``extra`` names the source file and format.
    """
    from mg_eval.results import make_results, new_run_id, run_dir, write_run

    run_id = new_run_id(result.protocol)
    record = make_results(
        run_id=run_id,
        model={"name": model_name, "path": None, "weights_hash": None},
        task={"name": result.task, "benchmark": result.benchmark, "version": result.task_version,
              "fingerprint": None},
        protocol=result.protocol,
        generation={},
        scores=result.scores,
        primary_metric=result.primary_metric,
        n_samples={"total": result.n_samples, "dataset": None, "computed": 0, "resumed": result.n_samples},
        limit=None,
        judge=result.judge,
        extra={"producer": "mg-eval score", "source": result.source, "source_format": result.source_format,
               "scorer_version": SCORER_VERSION, "judge": dict(judge_info or {"name": result.judge})},
    )
    directory = run_dir(output_root, model_name, result.task, run_id)
    return write_run(directory, record, result.samples)
