"""The models of a run: which backend builds them, under which name, and what their predictions record.

``model_specs`` checks every ``--model`` through its backend (before any data is read); ``decoding_choices``
asks the backend how it decodes each task (an unsupported mode fails before any model loads);
``fingerprint_fields`` is what a backend adds to every prediction fingerprint. The engine names no model
class: everything model-specific goes through ``mg_eval.backends``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mg_eval.api import DEFAULT_BACKEND, Generator, RunOptions
from mg_eval.backends import Backend, DecodingChoice, check_run_options, decoding_mode, load_backend
from mg_eval.errors import UserInputError
from mg_eval.results import records as results


@dataclass
class ModelSpec:
    """How to build one model: a path and the backend that builds it, or an already built ``Generator``.

    ``backend_identity``: ``{"name", "version", "options"}`` of the backend (``None`` for a generator passed
    in whose ``info`` names no ``backend``); recorded in results.json ``backend``. ``adapter``: a stage-1
    ``mm_projector.bin`` loaded over ``path`` (its base; backends with ``capabilities.adapters`` only);
    ``training``: the training run and step of a checkpoint (``mg_eval.engine.checkpoints``; results.json
    ``model.training``).
    """

    name: str
    path: Path | str | None = None
    generator: Generator | None = None
    backend: Backend | None = None
    backend_identity: Mapping[str, Any] | None = None
    adapter: Path | None = None
    training: dict[str, Any] | None = None

    @property
    def backend_name(self) -> str:
        """The backend's name (the default for a generator passed in without one): the store header's."""
        return str((self.backend_identity or {}).get("name") or DEFAULT_BACKEND)


def run_name(folder_name: str, backend_name: str) -> str:
    """The results folder name of a model: the folder's name for the default backend, ``<name>+<backend>``
    for any other, so runs of two backends on one checkpoint never share a store or a leaderboard row."""
    name = folder_name if backend_name == DEFAULT_BACKEND else f"{folder_name}+{backend_name}"
    return results.sanitize_name(name)


def model_specs(models: Sequence[Any], options: RunOptions, world_size: int = 1) -> list[ModelSpec]:
    """Paths / Generators -> ``ModelSpec``. Paths are checked by the backend of ``options.backend``, and the
    run's options against its capabilities (``UserInputError`` naming the flag); two models that would land
    in one results folder are refused."""
    backend = None
    specs = []
    for model in models:
        if isinstance(model, Generator):
            identity = model.info.get("backend")
            specs.append(ModelSpec(name=str(model.info["name"]), generator=model,
                                   backend_identity=dict(identity) if isinstance(identity, Mapping) else None))
            continue
        if backend is None:
            backend = load_backend(options.backend)
            check_run_options(backend, options, world_size)
        if isinstance(model, ModelSpec):  # a training checkpoint (mg_eval.engine.checkpoints): named by its step
            if model.adapter is not None and not backend.capabilities.adapters:
                raise UserInputError(f"{model.adapter}: backend {backend.name!r} cannot load a stage-1 projector "
                                     f"over a base; evaluate it with --backend {DEFAULT_BACKEND}")
            specs.append(dataclasses.replace(model, path=backend.check_model(model.path), backend=backend,
                                             name=run_name(model.name, backend.name),
                                             backend_identity=backend.identity(options)))
            continue
        path = backend.check_model(model)
        specs.append(ModelSpec(name=run_name(backend.model_name(path), backend.name), path=path,
                               backend=backend, backend_identity=backend.identity(options)))
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserInputError(f"two --model checkpoints share the folder name {duplicates}: their results would "
                             "land in the same results/<model>/ folder; rename or symlink one of them")
    return specs


def decoding_choices(spec: ModelSpec, generations: Mapping[str, Mapping[str, Any]]) -> dict[str, DecodingChoice]:
    """Per task name: how the spec's backend decodes the task's ``generation`` (exactly, a recorded fallback,
    or ``UserInputError`` before any model loads). A generator passed in decodes every task as asked."""
    choices = {}
    for task_name, generation in generations.items():
        if spec.backend is None:
            choices[task_name] = DecodingChoice(dict(generation), decoding_mode(generation))
        else:
            choices[task_name] = spec.backend.decoding_for(task_name, generation)
    return choices


def fingerprint_fields(spec: ModelSpec) -> dict[str, Any]:
    """``{"backend": identity}`` for a non-default backend (part of every prediction fingerprint), else ``{}``
    (so the stores of the reference backend, made before backends existed, stay valid)."""
    identity = spec.backend_identity
    if not identity or identity.get("name", DEFAULT_BACKEND) == DEFAULT_BACKEND:
        return {}
    return {"backend": dict(identity)}


def results_block(spec: ModelSpec, choice: DecodingChoice) -> dict[str, Any] | None:
    """results.json ``backend``: the identity plus how the task was decoded (``None``: a generator passed in
    that names no backend)."""
    if spec.backend_identity is None:
        return None
    return dict(spec.backend_identity) | {"decoding": {"mode": choice.mode, "departure": choice.departure}}

