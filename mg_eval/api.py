"""The typed core of the harness: the shared constants, the benchmark declaration and the protocols.

Everything a benchmark folder (``tasks/<benchmark>/``) or a model adapter has to fit is defined here once;
the engine, the re-scoring flow and the analysis code are written against these types, never against a
benchmark's name. Data flows request -> model (:class:`Generator`) -> store -> scorer (:class:`TaskLike`)
-> results -> table/plot (reading :class:`Benchmark` metadata).

This module imports nothing heavy (no torch, no datasets) and holds no state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypedDict, runtime_checkable

__all__ = [
    "BACKENDS_GROUP", "DEFAULT_BACKEND", "GENERATION_KEYS", "PROTOCOLS", "TASK_GENERATION_KEYS", "Benchmark",
    "Generator", "GroupScore", "JudgeRole",
    "PaperColumn", "PredictionFormat", "RunOptions", "SampleRecord", "SampleWiseGenerator", "SharingGenerator",
    "StreamingGenerator", "TaskLike", "TokenCountingGenerator", "UnitSpec",
]

#: The two prompt protocols every task defines: the official MGM scripts, and lmms-eval's task defaults.
PROTOCOLS: tuple[str, ...] = ("mgm", "lmms")
#: The resolved decoding settings a task hands to a :class:`Generator` (``seed`` is None for greedy decoding).
GENERATION_KEYS: tuple[str, ...] = ("max_new_tokens", "do_sample", "temperature", "top_p", "num_beams", "seed")
#: Keys a task YAML's ``generation_kwargs`` may hold: the above plus lmms-eval's ``until`` (recorded, not used
#: for decoding: the template's stop strings end a generation).
TASK_GENERATION_KEYS: tuple[str, ...] = GENERATION_KEYS + ("until",)
#: The entry-point group model backends register under (``mg_eval.backends``: docs/architecture.md "Backends").
BACKENDS_GROUP = "mg_eval.backends"
#: The reference backend (the HF path over ``mg_model``); its predictions carry no backend fingerprint field.
DEFAULT_BACKEND = "mgm"


class SampleRecord(TypedDict, total=False):
    """One line of ``samples.jsonl``: what ``Task.process_result`` returns, plus the engine's fields.

    ``doc_id``, ``target`` and ``response`` are always there; the scorer adds its own fields (documented in
    ``tasks/<benchmark>/scorer.py``), e.g. ``score``, ``extracted``, ``correct``.
    """

    doc_id: str
    target: Any
    response: str
    score: float | None
    extracted: Any
    prompt: str | None


@runtime_checkable
class TaskLike(Protocol):
    """What the engine and the re-scoring flow call on a task (implemented by :class:`mg_eval.tasks.Task`)."""

    name: str
    benchmark: str
    version: int | float | str
    primary_metric: str

    def load(self, data_path: str | Path | None = None, limit: int | None = None) -> list[dict]: ...
    def data_fingerprint(self, data_path: str | Path | None = None) -> dict[str, Any]: ...
    def doc_to_visual(self, doc: Mapping, protocol: str = "mgm") -> list[Any]: ...
    def doc_to_text(self, doc: Mapping, protocol: str) -> str: ...
    def generation_kwargs(self, protocol: str) -> dict[str, Any]: ...
    def prompt_config(self, protocol: str) -> dict[str, Any]: ...
    def process_result(self, doc: Mapping, response: str, protocol: str) -> SampleRecord: ...
    def aggregate(self, records: Iterable[Mapping], protocol: str, judge: Any = None) -> dict[str, Any]: ...
    def fingerprint(self, protocol: str) -> str: ...


@runtime_checkable
class Generator(Protocol):
    """A model as the engine sees it (``mg_eval.models.MGMGenerator`` implements it; see docs/engine.md).

    ``prepare`` runs in DataLoader workers (CPU only); ``generate`` runs in the main process. ``info`` holds at
    least ``name``, ``path`` and ``weights_hash`` (recorded in results); ``template_id`` changes whenever the
    rendered prompts would (it is part of the prediction store's key).
    """

    #: ``name``, ``path``, ``weights_hash``, ``config``, ``dtype``, ``device``, ``device_map`` (recorded in
    #: results.json) and optionally ``stop_strings`` (the template's stops, recorded with the generation settings).
    info: dict[str, Any]
    #: Identity of the chat template (part of every prediction fingerprint).
    template_id: str

    def render_prompt(self, text: str, has_image: bool) -> str:
        """The full prompt string the model sees for one user message."""
        ...

    def prepare(self, images: Sequence[Any], texts: Sequence[str]) -> dict[str, Any]:
        """Tokenise + preprocess one batch on CPU (images: PIL or None; tensors are [B, ...])."""
        ...

    def generate(self, batch: dict[str, Any], generation: Mapping[str, Any]) -> list[str]:
        """Generate one stripped answer per sample of a prepared batch."""
        ...


@runtime_checkable
class SampleWiseGenerator(Generator, Protocol):
    """A :class:`Generator` that can also preprocess sample by sample in the workers and collate in the main
    process (the engine then balances the workers' load per sample). ``per_sample_preprocessing`` says whether
    that is worth it for this model (e.g. real image sizes)."""

    per_sample_preprocessing: bool

    def prepare_sample(self, image: Any, text: str) -> dict[str, Any]:
        """``prepare`` for one sample (runs in a DataLoader worker)."""
        ...

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Samples from ``prepare_sample`` -> one batch as ``prepare`` would give it (left padding, stacking)."""
        ...


@runtime_checkable
class TokenCountingGenerator(Generator, Protocol):
    """A :class:`Generator` that can say how many tokens each sample feeds the model, and its context length
    (the engine records each prediction's ``input_tokens`` and counts truncated inputs)."""

    context_length: int

    def input_lengths(self, batch: dict[str, Any]) -> list[int]:
        """Text + visual tokens per sample of a prepared batch."""
        ...


@runtime_checkable
class SharingGenerator(Generator, Protocol):
    """A :class:`Generator` with a vision-feature cache and shared-prefix prefill (``--no-share`` turns it off)."""

    def set_sharing(self, enabled: bool, cache_bytes: int | None = None) -> None:
        """Turn the feature cache + prefix sharing on (a fresh, byte-bounded cache) or off."""
        ...

    def sharing_report(self) -> dict[str, Any]:
        """``{"enabled": bool, "feature_cache": counters or None}`` for results.json ``run_config.share``."""
        ...


@runtime_checkable
class StreamingGenerator(Generator, Protocol):
    """A :class:`Generator` that decodes with continuous batching (finished rows are refilled at once)."""

    #: False where continuous batching cannot apply (e.g. a sliding-window KV cache).
    can_stream: bool

    def split_requests(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """One input dict per sample of a prepared batch."""
        ...

    def generate_stream(self, requests: Any, generation: dict[str, Any], batch_size: int) -> Any:
        """``(key, request)`` pairs in, ``(key, stripped answer)`` out as rows finish (greedy)."""
        ...


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How ``mg_eval.engine.evaluate`` runs: every setting besides the models and tasks, declared here once.

    ``evaluate``'s keywords are these fields (:meth:`from_keywords`); the CLI flags build it
    (``mg_eval.cli.run_options.run_options_from_args``).

    Attributes:
        protocol: ``mgm`` or ``lmms`` (:data:`PROTOCOLS`).
        batch_size: samples per batch (sampling tasks run one by one).
        limit: first N documents per task (the run is then not for reporting).
        output_dir: results root.
        judge: a Judge, ``None``, or a callable ``task -> Judge | None``.
        num_workers: DataLoader workers (``None``: cores - 1).
        dtype, device, device_map, encoder_root: how a checkpoint is loaded.
        data_paths: task name -> local data path (else the hub dataset).
        fresh: discard stored predictions first.
        generation_overrides: e.g. ``{"max_new_tokens_cap": 16}``.
        progress: show a progress bar.
        decode: ``mg_model.generation.fast_decode.DecodeOptions`` fields for checkpoints built by the run (default official;
            part of every prediction fingerprint); a ``Generator`` passed in keeps its own.
        continuous: continuous batching for greedy single-beam tasks (``mg_eval.engine.continuous``).
        share: vision-feature cache + shared-prefix / beam prefill (same tokens; ``False``: the plain path).
        backend: the backend that builds the models (``mg_eval.backends``; default the reference ``mgm``).
        backend_options: backend-specific settings (``--backend-option KEY=VALUE``), checked by the backend.
    """

    protocol: str = "mgm"
    batch_size: int = 8
    limit: int | None = None
    output_dir: str | Path = "results"
    judge: Any = None
    num_workers: int | None = None
    dtype: str | None = "auto"
    device: str | None = "auto"
    device_map: str | None = None
    encoder_root: str | None = None
    data_paths: Mapping[str, str] = dataclasses.field(default_factory=dict)
    fresh: bool = False
    generation_overrides: Mapping[str, Any] | None = None
    progress: bool = True
    decode: Mapping[str, Any] | None = None
    continuous: bool = False
    share: bool = True
    backend: str = DEFAULT_BACKEND
    backend_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_keywords(cls, **keywords: Any) -> RunOptions:
        """The options from ``evaluate``-style keywords: the field names above, their defaults for the rest.

        ``None`` for ``data_paths`` / ``backend_options`` means empty. An unknown keyword raises ``TypeError``
        naming it (as a function call with a misspelt keyword would).
        """
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(keywords) - names)
        if unknown:
            raise TypeError(f"unknown run setting(s) {', '.join(map(repr, unknown))}; the settings are the fields "
                            f"of mg_eval.api.RunOptions: {', '.join(sorted(names))}")
        for name in ("data_paths", "backend_options"):
            if name in keywords:
                keywords[name] = dict(keywords[name] or {})
        for name in ("continuous", "share", "fresh", "progress"):
            if name in keywords:
                keywords[name] = bool(keywords[name])
        return cls(**keywords)


# ------------------------------------------------------------------------------------------------------
# The benchmark declaration (``tasks/<benchmark>/benchmark.yaml``)


@dataclasses.dataclass(frozen=True)
class PredictionFormat:
    """One official prediction-file format ``mg-eval score`` understands (declared by its benchmark).

    ``read`` turns the file into the benchmark's per-sample records (``tasks/<b>/scorer.py``), ``aggregate``
    scores them, ``to_samples`` gives the lines of ``samples.jsonl``. ``priority``: the order formats are
    listed in (detection asks every format; a file several claim is refused). ``example`` /
    ``example_annotation``: a shipped file in this format (and the ``--annotation`` it needs) that
    ``mg-eval score`` must detect as this format and score (tested for every format).
    """

    name: str
    benchmark: str
    task: str
    primary_metric: str
    description: str
    detect: Callable[[Path], bool]
    read: Callable[[Path, Any], list[dict]]
    aggregate: Callable[[list[dict], Any, Any], dict]
    to_samples: Callable[[list[dict], Mapping[str, Any]], list[dict]]
    needs_judge: bool = False
    priority: int = 100
    example: Path | None = None
    example_annotation: Path | None = None


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One test-server submission file ``mg-eval export`` writes (declared by its benchmark).

    ``write(results, samples, path)`` writes the file from a run's results.json dict and samples.jsonl lines;
    ``tasks`` are the tasks whose runs it accepts; ``submit_to`` says where the file goes.
    """

    name: str
    benchmark: str
    tasks: tuple[str, ...]
    description: str
    submit_to: str
    suffix: str
    write: Callable[[Mapping[str, Any], list[dict], Path], None]


@dataclasses.dataclass(frozen=True)
class JudgeRole:
    """What the benchmark's official scoring asks an LLM to do, and the judge behind the paper's numbers."""

    role: str
    paper: str


@dataclasses.dataclass(frozen=True)
class UnitSpec:
    """How one score is rebuilt from resampling units (bootstrap CIs and paired tests).

    ``statistic``:

    * ``mean``: one unit per sample, ``scale`` x the mean outcome;
    * ``all_of_group``: one unit per group of samples (``group_by`` field, ``group_modulo`` applied to a
      numeric value), 1 when every sample of the group is right; ``scale`` x the mean;
    * ``acc_plus``: one unit per group (``group_by``) inside strata (``stratify_by`` values listed in
      ``strata``), resampled within strata; the score is the sum over strata of 100·acc + 100·acc+.
    """

    unit: str
    statistic: str = "mean"
    scale: float = 100.0
    group_by: tuple[str, ...] = ()
    group_modulo: int | None = None
    stratify_by: str | None = None
    strata: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PaperColumn:
    """A leaderboard column of the paper's Table 1 a benchmark's runs map to.

    ``score``: the results.json score key shown in the column (``None``: no run of ours maps to it);
    ``scale``: ``percent`` (shared axis) or ``points`` (own axis); ``position``: the column's place in the
    paper's table; ``requires``: the column holds a score only when the run has samples whose
    ``requires_field`` is one of these values (MME perception needs perception samples); ``tasks``: only
    runs of these tasks of the benchmark fill the column (empty: any of its tasks); ``in_paper``: ``False``
    for a column the paper's Table 1 does not have (filled by our runs and other published references,
    ``mg_eval/analysis/zoo.py``).
    """

    key: str
    header: str
    position: int
    score: str | None = None
    scale: str = "percent"
    requires_field: str | None = None
    requires: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    in_paper: bool = True


@dataclasses.dataclass(frozen=True)
class GroupScore:
    """A group's summary score, declared as data in the group YAML (``average:``): the mean over the group's
    tasks of one score each (``members``: ``(task, results.json score key, scale)``), rounded to ``decimals``
    (``None``: not rounded). ``key`` / ``title``: its name in tables and its column header in plots;
    ``source``: where the definition comes from.
    """

    group: str
    key: str
    title: str
    members: tuple[tuple[str, str, float], ...]
    decimals: int | None = None
    source: str = ""

    @property
    def tasks(self) -> tuple[str, ...]:
        """The member task names, in the declared order."""
        return tuple(task for task, _, _ in self.members)

    def compute(self, scores_by_task: Mapping[str, Mapping[str, Any]]) -> float | None:
        """The score from ``{task: results.json scores}``; ``None`` unless every member has its score."""
        values = []
        for task, key, scale in self.members:
            value = (scores_by_task.get(task) or {}).get(key)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return None
            values.append(float(value) * scale)
        mean = sum(values) / len(values)
        return round(mean, self.decimals) if self.decimals is not None else mean


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A benchmark folder's declaration: everything the core needs to know about it, as data.

    Attributes:
        name: the benchmark id (= its folder name; ``task.benchmark`` of its tasks).
        title: the display name (tables, plots).
        folder: the benchmark folder.
        aliases: other spellings accepted where a benchmark is named (``mm-vet``, ``mmb``).
        judge: the judge role, or ``None`` when the official scoring is LLM-free.
        categories: named category lists (official order), e.g. ``{"perception": [...]}``.
        sub_scores: named axes of sub-scores in results (e.g. capabilities), score keys in order.
        units: results.json score key -> how it is rebuilt from units (see :class:`UnitSpec`).
        paper_columns: the paper's leaderboard columns this benchmark fills.
        delta_unit: how a Δ of the benchmark's ablation metric is labelled (``points`` or e.g. ``/2000``).
        axis_label: the y label of its points-scale leaderboard panel (``None``: the column headers).
        prediction_formats: official prediction formats (``mg-eval score``).
        export_formats: test-server submission files (``mg-eval export``).
    """

    name: str
    title: str
    folder: Path
    aliases: tuple[str, ...] = ()
    judge: JudgeRole | None = None
    categories: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    sub_scores: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    units: Mapping[str, UnitSpec] = dataclasses.field(default_factory=dict)
    paper_columns: tuple[PaperColumn, ...] = ()
    delta_unit: str = "points"
    axis_label: str | None = None
    prediction_formats: tuple[PredictionFormat, ...] = ()
    export_formats: tuple[ExportFormat, ...] = ()

    def names(self) -> tuple[str, ...]:
        """The name, title and aliases, normalised (lower case, no ``-``/``_``/spaces)."""
        return tuple(dict.fromkeys(normalise_name(n) for n in (self.name, self.title, *self.aliases)))


def normalise_name(name: str) -> str:
    """``"MM-Vet"`` -> ``"mmvet"``: how benchmark names are compared."""
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")
