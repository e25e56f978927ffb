"""Build an ablation row's checkpoint from its config delta and a training recipe (``mg-eval ablate --train``).

An ablation spec (``ablations/<name>.yaml``, format in :mod:`mg_eval.ablation.spec`) says *what* each
row's model is: a delta on a base variant. The training recipe next to it, ``ablations/<name>.train.yaml``,
says *how* to build it::

    base:                       # the starting weights, in the official checkpoint layout
      tiny: {seed: 0}           #   a random tiny MGM (mg_model.build_tiny_checkpoint), or
      # checkpoint: path/to/mgm-base     an MGM-layout directory (LLM + both encoders + fresh projector)
      # tiny: {seed: 0, pretrain_encoders: {...}, warm_start_llm: {...}}   what pretrained weights are at
      #   CPU scale (synthetic data only): encoders pretrained on the generator's scenes
      #   (mg_model.train.encoder_pretrain.PretextOptions), LLM warm-started on text-only digit answering
      #   (mg_model.train.text_warmup.WarmupOptions); built once, shared by every row and seed
    data:                       # training data
      synthetic: {out: generated/synth_detail, n_train: 3000, n_test: 300, seed: 0, digits: 1}
      # or: {data_path: data/MGM-Finetune/mgm_instruction.json, image_folder: data/MGM-Finetune}
    eval_data: {synth_detail: generated/synth_detail}   # task -> data path handed to the evaluation
    stages:                     # TrainConfig fields per stage, in order (stage 2 starts from stage 1)
      - {stage: finetune, template: vicuna_v1, max_steps: 600, per_device_batch: 16, lr: 1.0e-3}
      # optional per stage: data: captions.json  (a file of the data folder, or a path; default: the data)

A row of a spec with ``seeds`` (:mod:`mg_eval.ablation.seeds`) trains with its seed: every stage's ``seed``
(batch order) is the row's, and the first stage re-initialises the projector and mining modules from it
(``init_adapter_seed``); the base weights are the same for every seed.

A row is built only when its checkpoint directory lacks ``config.json``; the model trains in
``<checkpoint>.training/`` (resumable: rerunning continues from the last saved step) and is moved to the
checkpoint path when complete, so a half-written row is never mistaken for a built one. Relative paths in
the recipe are taken from the current directory (like the checkpoint paths of the spec).

``mining: false`` in a row's delta (LLaVA-1.5-style baseline, no patch info mining) is realised as the
exact equivalent inside the MGM architecture: the value projection of the mining attention is zero and
frozen, so the mined term is exactly 0 and the visual tokens are ``MLP(X_L)`` (same token count); the
HR encoder is still run but contributes nothing (documented in docs/training.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mg_model.train.data import TrainingInputError
from mg_model.train.encoder_pretrain import PRETEXT_VERSION, PretextOptions
from mg_model.train.synthetic import SyntheticSpec, write_dataset
from mg_model.train.text_warmup import WARMUP_VERSION, WarmupOptions
from mg_model.train.trainer import TrainConfig, TrainResult, train

_RECIPE_KEYS = {"base", "data", "eval_data", "stages", "note"}
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)} - {"model_path", "data_path", "output_dir",
                                                                      "image_folder", "config_overrides",
                                                                      "pretrain_adapter"}
_SYNTHETIC_KEYS = {"out", "n_train", "n_test", "seed", "hr_size", "grid", "digits", "font_px", "n_shapes", "jitter", "fixed_cell"}
_SPLIT_KEYS = ("out", "n_train", "n_test", "seed")  # data.synthetic keys that are not SyntheticSpec fields
_TINY_KEYS = {"seed", "llm", "pretrain_encoders", "warm_start_llm"}
BASE_REPORT = "base_report.json"
BUILD_LOG = "ablation_row.json"  # in each built row's checkpoint: recipe, delta, seed, base, learning curves


@dataclass
class TrainingRecipe:
    """A parsed ``<spec>.train.yaml`` (see the module docstring)."""

    path: Path
    base: dict[str, Any]
    data: dict[str, Any]
    stages: list[dict[str, Any]]
    eval_data: dict[str, str] = field(default_factory=dict)


def recipe_path_for(spec_path: str | Path) -> Path:
    """``ablations/foo.yaml`` -> ``ablations/foo.train.yaml``."""
    path = Path(spec_path)
    return path.with_name(path.stem + ".train.yaml")


def load_recipe(path: str | Path) -> TrainingRecipe:
    """Read and validate a training recipe; errors name the file and key."""
    path = Path(path)
    if not path.is_file():
        raise TrainingInputError(f"training recipe {path} not found: `--train` needs it next to the ablation spec "
                                 "(format in mg_eval/ablation/train.py and docs/training.md)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = sorted(set(raw) - _RECIPE_KEYS)
    if unknown:
        raise TrainingInputError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_RECIPE_KEYS)}")
    base, data, stages = raw.get("base") or {}, raw.get("data") or {}, raw.get("stages") or []
    if len(base) != 1 or next(iter(base)) not in ("tiny", "checkpoint"):
        raise TrainingInputError(f"{path}: 'base' must be exactly one of {{tiny: {{seed: 0}}}} or {{checkpoint: DIR}}")
    if len(data) != 1 or next(iter(data)) not in ("synthetic", "data_path"):
        if "data_path" not in data and "synthetic" not in data:
            raise TrainingInputError(f"{path}: 'data' needs 'synthetic: {{...}}' or 'data_path' (+ 'image_folder')")
    if "synthetic" in data:
        bad = sorted(set(data["synthetic"] or {}) - _SYNTHETIC_KEYS)
        if bad:
            raise TrainingInputError(f"{path}: data.synthetic has unknown key(s) {bad}; allowed {sorted(_SYNTHETIC_KEYS)}")
    if not isinstance(stages, list) or not stages:
        raise TrainingInputError(f"{path}: 'stages' must be a non-empty list of training settings")
    _check_base_options(path, base, data)
    for index, stage in enumerate(stages):
        bad = sorted(set(stage) - _TRAIN_FIELDS - {"data"})
        if bad:
            raise TrainingInputError(f"{path}: stages[{index}] has unknown key(s) {bad}; allowed: {sorted(_TRAIN_FIELDS)}")
    return TrainingRecipe(path, dict(base), dict(data), [dict(s) for s in stages], dict(raw.get("eval_data") or {}))


def _check_base_options(path: Path, base: dict[str, Any], data: dict[str, Any]) -> None:
    """``base.tiny`` keys; pretraining options need synthetic data (their pretext is the generator's)."""
    tiny = base.get("tiny") or {}
    if not isinstance(tiny, dict):
        raise TrainingInputError(f"{path}: base.tiny must be a mapping, e.g. {{seed: 0}}")
    bad = sorted(set(tiny) - _TINY_KEYS)
    if bad:
        raise TrainingInputError(f"{path}: base.tiny has unknown key(s) {bad}; allowed: {sorted(_TINY_KEYS)}")
    for key, options_class in (("pretrain_encoders", PretextOptions), ("warm_start_llm", WarmupOptions)):
        if key not in tiny:
            continue
        if "synthetic" not in data:
            raise TrainingInputError(f"{path}: base.tiny.{key} needs 'data: synthetic: {{...}}' (its pretext task)")
        _check_options(f"{path}: base.tiny.{key}", tiny[key] or {}, options_class)


def _check_options(where: str, values: Any, options_class: type) -> None:
    """Keys and value types of a pretraining options mapping against its dataclass's defaults."""
    if not isinstance(values, dict):
        raise TrainingInputError(f"{where} must be a mapping of option names to values")
    defaults = {f.name: f.default for f in dataclasses.fields(options_class)}
    bad = sorted(set(values) - set(defaults))
    if bad:
        raise TrainingInputError(f"{where} has unknown key(s) {bad}; allowed: {sorted(defaults)}")
    for name, value in values.items():
        kind = type(defaults[name])
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, (int, float) if kind is float else kind):
            raise TrainingInputError(f"{where}.{name} must be of type {kind.__name__} (like the default {defaults[name]!r}), "
                                     f"got {value!r}")


def synthetic_spec(recipe: TrainingRecipe) -> SyntheticSpec:
    """The generator settings of the recipe's synthetic data (without its folder, counts and seed)."""
    options = {k: v for k, v in (recipe.data.get("synthetic") or {}).items() if k not in _SPLIT_KEYS}
    return SyntheticSpec(**options)


def prepare_data(recipe: TrainingRecipe) -> tuple[Path, Path | None]:
    """The training JSON and image folder; generates the synthetic dataset when the recipe asks for it."""
    if "synthetic" in recipe.data:
        options = recipe.data["synthetic"]
        out = Path(options.get("out", "generated/synth_detail"))
        write_dataset(out, synthetic_spec(recipe), int(options.get("n_train", 3000)), int(options.get("n_test", 300)),
                      int(options.get("seed", 0)))
        return out / "train.json", out
    folder = recipe.data.get("image_folder")
    return Path(recipe.data["data_path"]), Path(folder) if folder else None


def prepare_base(recipe: TrainingRecipe, work_dir: Path) -> Path:
    """The base checkpoint directory (built once for ``tiny``; used in place for ``checkpoint``)."""
    if "checkpoint" in recipe.base:
        path = Path(recipe.base["checkpoint"])
        if not (path / "config.json").is_file():
            raise TrainingInputError(f"{recipe.path}: base checkpoint {path} has no config.json")
        return path
    from mg_model.tiny import build_tiny_checkpoint

    options = dict(recipe.base["tiny"] or {})
    seed, llm = int(options.get("seed", 0)), str(options.get("llm", "llama"))
    target = work_dir / f"base-tiny-seed{seed}"
    if not (target / "config.json").is_file():
        build_tiny_checkpoint(target, seed=seed, llm=llm)
    if "pretrain_encoders" not in options and "warm_start_llm" not in options:
        return target
    return pretrained_tiny_base(recipe, target, seed, llm)


def base_path(recipe: TrainingRecipe, work_dir: Path) -> Path:
    """Where :func:`prepare_base` puts (or finds) the recipe's base, without building anything."""
    if "checkpoint" in recipe.base:
        return Path(recipe.base["checkpoint"])
    options = recipe.base["tiny"] or {}
    random_base = work_dir / f"base-tiny-seed{int(options.get('seed', 0))}"
    if "pretrain_encoders" not in options and "warm_start_llm" not in options:
        return random_base
    return _pretrained_name(random_base, _pretrained_settings(recipe))


def _pretrained_settings(recipe: TrainingRecipe) -> dict[str, Any]:
    tiny = recipe.base["tiny"]
    return {"pretrain_encoders": tiny.get("pretrain_encoders"), "warm_start_llm": tiny.get("warm_start_llm"),
            "synthetic": dataclasses.asdict(synthetic_spec(recipe)), "versions": [PRETEXT_VERSION, WARMUP_VERSION]}


def _pretrained_name(random_base: Path, settings: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return random_base.with_name(f"{random_base.name}-pretrained-{digest}")


def pretrained_tiny_base(recipe: TrainingRecipe, random_base: Path, seed: int, llm: str) -> Path:
    """The random tiny base with pretrained encoders and / or a warm-started LLM (built once per settings).

    The folder name holds a hash of the settings, so changed settings build a new base; the reports
    (probe accuracies, loss curves, seconds) are written to ``base_report.json`` inside it.
    """
    from mg_model.processing_mgm import MGMProcessor
    from mg_model.tiny import build_tiny_model, write_tiny_checkpoint
    from mg_model.train.encoder_pretrain import pretrain_encoders
    from mg_model.train.text_warmup import warm_start_llm

    spec = synthetic_spec(recipe)
    settings = _pretrained_settings(recipe)
    target = _pretrained_name(random_base, settings)
    if (target / "config.json").is_file():
        return target
    model = build_tiny_model(llm, seed=seed)  # the random base's weights
    processor = MGMProcessor.from_pretrained(random_base)
    report: dict[str, Any] = {"settings": settings}
    if settings["pretrain_encoders"] is not None:
        print("base: pretraining the tiny encoders on the pretext task ...", flush=True)
        report["encoders"] = pretrain_encoders(model, processor.image_processor, spec,
                                               PretextOptions(**(settings["pretrain_encoders"] or {})))
    if settings["warm_start_llm"] is not None:
        print("base: warm-starting the tiny LLM on text-only digit answering ...", flush=True)
        report["llm"] = warm_start_llm(model, processor, spec, WarmupOptions(**(settings["warm_start_llm"] or {})))
    staging = target.with_name(target.name + ".building")
    if staging.exists():
        shutil.rmtree(staging)
    write_tiny_checkpoint(model.eval(), staging)
    (staging / BASE_REPORT).write_text(json.dumps(report, indent=1))
    staging.rename(target)
    return target


def row_training_configs(recipe: TrainingRecipe, base: Path, data_path: Path, image_folder: Path | None,
                         overrides: Mapping[str, Any], mining: bool, work: Path,
                         seed: int | None = None) -> list[TrainConfig]:
    """One TrainConfig per recipe stage; stage k+1 starts from stage k's output; the last writes ``work``."""
    configs, source = [], base
    for index, stage in enumerate(recipe.stages):
        last = index == len(recipe.stages) - 1
        output = work if last else work.parent / f"{work.name}-stage{index + 1}"
        values = {key: value for key, value in stage.items() if key != "data"}
        values.update(config_overrides=dict(overrides), mining=mining)
        if seed is not None:
            values["seed"] = seed
            if index == 0:
                values["init_adapter_seed"] = seed
        stage_data = _stage_data(stage.get("data"), data_path, image_folder)
        configs.append(TrainConfig(model_path=str(source), data_path=str(stage_data), output_dir=str(output),
                                   image_folder=str(image_folder) if image_folder else None, **values))
        source = output
    return configs


def _stage_data(name: str | None, default: Path, folder: Path | None) -> Path:
    """A stage's data file: ``name`` inside the data folder when it is there, else ``name`` as a path."""
    if name is None:
        return default
    if folder is not None and (folder / name).is_file():
        return folder / name
    return Path(name)


def build_row(recipe: TrainingRecipe, row: Any, checkpoint: Path, work_root: Path) -> list[TrainResult]:
    """Train one row (all stages) into ``<checkpoint>.training`` and move it to ``checkpoint`` when done."""
    data_path, image_folder = prepare_data(recipe)
    base = prepare_base(recipe, work_root)
    staging = checkpoint.with_name(checkpoint.name + ".training")
    configs = row_training_configs(recipe, base, data_path, image_folder, row.config_overrides(),
                                   bool(row.mining), staging, getattr(row, "seed", None))
    results = []
    for config in configs:
        if (Path(config.output_dir) / "config.json").is_file() and config.output_dir != str(staging):
            continue  # an earlier stage already finished
        results.append(train(config))
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if checkpoint.exists():
        shutil.rmtree(checkpoint)
    _drop_intermediate_checkpoints(staging)
    staging.rename(checkpoint)
    return results


def _drop_intermediate_checkpoints(directory: Path) -> None:
    for sub in directory.glob("checkpoint-*"):
        shutil.rmtree(sub, ignore_errors=True)


def train_missing_rows(spec: Any, checkpoint_root: str | Path | None = None,
                       row_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """Build every selected row of ``spec`` whose checkpoint is missing; returns engine options.

    The returned mapping (``{"data_paths": {task: path}}``) is what the evaluation of those rows needs.
    """
    if spec.path is None:
        raise TrainingInputError("the ablation spec has no file path; --train looks for <spec>.train.yaml next to it")
    recipe = load_recipe(recipe_path_for(spec.path))
    rows = spec.select(list(row_ids) if row_ids else None)
    work_root = Path(checkpoint_root or ".") / "checkpoints" / "ablations" / f"_{spec.name}_work"
    built: dict[str, list[TrainResult]] = {}
    base = base_path(recipe, work_root)
    for row in rows:
        if row.checkpoint_exists(checkpoint_root):
            _check_same_base(row, row.checkpoint_path(checkpoint_root), base)
            print(f"{row.id}: checkpoint exists, not retrained")
            continue
        print(f"{row.id}: training ({len(recipe.stages)} stage(s)) -> {row.checkpoint_path(checkpoint_root)}", flush=True)
        results = build_row(recipe, row, row.checkpoint_path(checkpoint_root), work_root)
        built[row.id] = results
        for result in results:
            print(f"{row.id}: {result.global_step} steps, final loss {result.losses[-1] if result.losses else 'n/a'}, "
                  f"{result.seconds:.0f}s ({result.backend})", flush=True)
        _write_build_log(spec, recipe, row.id, results, checkpoint_root, base)
    return {"data_paths": dict(recipe.eval_data)} if recipe.eval_data else {}


LOSS_CURVE_WINDOW = 50  # steps per point of the learning curves in ablation_row.json


def loss_curve(losses: Sequence[float], window: int = LOSS_CURVE_WINDOW) -> list[float]:
    """Mean training loss per ``window`` steps."""
    return [round(sum(losses[i:i + window]) / len(losses[i:i + window]), 4) for i in range(0, len(losses), window)]


def _check_same_base(row: Any, checkpoint: Path, base: Path) -> None:
    """A built row must come from the base the recipe builds now (its ``ablation_row.json`` names it)."""
    log = checkpoint / BUILD_LOG
    built_from = json.loads(log.read_text()).get("base") if log.is_file() else None
    if built_from is not None and built_from != str(base):
        raise TrainingInputError(
            f"{row.id}: {checkpoint} was trained from the base {built_from}, but the recipe now builds {base} "
            "(its base settings changed); delete that row's checkpoint to rebuild it, or restore the settings")


def _write_build_log(spec: Any, recipe: TrainingRecipe, row_id: str, results: list[TrainResult],
                     checkpoint_root: str | Path | None, base: Path) -> None:
    """``ablation_row.json`` in the row's checkpoint: recipe, delta, seed and each stage's learning curve."""
    row = spec.row(row_id)
    stages = [{**stage, "steps": result.global_step, "seconds": round(result.seconds, 1),
               f"loss_per_{LOSS_CURVE_WINDOW}_steps": loss_curve(result.losses)}
              for stage, result in zip(recipe.stages[len(recipe.stages) - len(results):], results)]
    path = row.checkpoint_path(checkpoint_root) / BUILD_LOG
    path.write_text(json.dumps({"spec": spec.name, "row": row_id, "seed": getattr(row, "seed", None), "base": str(base),
                                "recipe": str(recipe.path), "delta": dict(row.delta), "stages": stages}, indent=1))
