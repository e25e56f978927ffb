"""The backend contract: what a backend declares it supports, and how the engine asks it for a ``Generator``.

A backend turns a model spec (a checkpoint folder, a hub-style folder, an endpoint's model name) plus the
run options into a :class:`mg_eval.api.Generator`. The engine names no model class: it finds backends
through the entry-point group :data:`BACKENDS_GROUP` (``mg_eval.backends.registry``), checks the run's
options against the backend's :class:`BackendCapabilities` before any data or model is loaded, asks it
per task whether it can decode the task's settings (:meth:`Backend.decoding_for`), then builds the
generator once per model. See docs/architecture.md "Backends" for how to write and register one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mg_eval.api import BACKENDS_GROUP, DEFAULT_BACKEND, PROTOCOLS, RunOptions
from mg_eval.errors import UserInputError

__all__ = [
    "BACKENDS_GROUP", "DECODING_MODES", "DEFAULT_BACKEND", "Backend", "BackendCapabilities", "DecodingChoice",
    "check_device", "check_run_options", "decoding_mode", "parse_device", "rank_device",
]

#: How a task decodes: greedy (1 beam, no sampling), beam search (num_beams > 1), sampling (do_sample).
DECODING_MODES: tuple[str, ...] = ("greedy", "beam", "sampling")


def decoding_mode(generation: Mapping[str, Any]) -> str:
    """``"sampling"`` when ``do_sample``, ``"beam"`` when ``num_beams > 1``, else ``"greedy"``."""
    if generation.get("do_sample"):
        return "sampling"
    return "beam" if int(generation.get("num_beams") or 1) > 1 else "greedy"


@dataclasses.dataclass(frozen=True)
class BackendCapabilities:
    """What a backend supports; the engine refuses a run option outside it (one ``error:`` line).

    Attributes:
        decoding: the :data:`DECODING_MODES` it decodes exactly as the task asks.
        sharing: vision-feature cache + shared-prefix prefill (``--no-share`` is a no-op without it).
        continuous: continuous batching (``--continuous``).
        devices: device types ``--device`` may name (``cpu``, ``cuda``, ...); ``auto`` is always accepted.
        dtypes: ``--dtype`` values besides ``auto``.
        decode_options: fast-decode options it honours (``attn`` -> ``--attn``, ``compile`` -> ``--compile``).
        device_map: ``--device-map`` (one model over several GPUs of a rank).
        encoder_root: ``--encoder-root`` (vision encoders kept outside the checkpoint).
        distributed: runs one model per rank under torchrun (``WORLD_SIZE > 1``).
        options: names of backend-specific options (``--backend-option KEY=VALUE``) it accepts.
        adapters: loads a stage-1 projector over a base checkpoint (``build(..., adapter=PATH)``).
    """

    decoding: frozenset[str] = frozenset({"greedy"})
    sharing: bool = False
    continuous: bool = False
    devices: tuple[str, ...] = ("cpu", "cuda")
    dtypes: tuple[str, ...] = ("float32", "float16", "bfloat16")
    decode_options: frozenset[str] = frozenset()
    device_map: bool = False
    encoder_root: bool = False
    distributed: bool = True
    options: tuple[str, ...] = ()
    adapters: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain, sorted values (``mg-eval run --backend NAME --help``-style listings, docs, tests)."""
        return {key: sorted(value) if isinstance(value, (frozenset, set)) else value
                for key, value in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class DecodingChoice:
    """How a backend decodes one task: the generation settings it will use, and why they depart from the
    task's protocol (``None``: exactly the task's settings). A departure makes the run ``for_reporting: false``
    with that reason and is recorded in results.json ``backend.decoding``."""

    generation: Mapping[str, Any]
    mode: str
    departure: str | None = None


class Backend:
    """Base class of a backend (subclass it, set ``name`` and ``capabilities``, implement :meth:`build`).

    The entry point names the class (or an instance); the engine instantiates it without arguments.
    Every method below but :meth:`build` has a working default.
    """

    #: The name users pass to ``--backend`` (the entry point's name must be the same).
    name: str = ""
    #: One line for listings.
    description: str = ""
    capabilities: BackendCapabilities = BackendCapabilities()
    #: The distribution whose version is recorded (and fingerprinted) as the backend's version.
    package: str = "mini-gemini-eval"
    #: The prompts a run gets when ``--protocol`` is not given (chat-model backends: ``lmms``, the benchmarks'
    #: generic prompts; the MGM checkpoints: ``mgm``, the official scripts').
    default_protocol: str = PROTOCOLS[0]

    def version(self) -> str:
        """The backend's version (recorded in results and, for non-default backends, in fingerprints)."""
        try:
            return metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return "unknown"

    def check_model(self, model: str | Path) -> Path | str:
        """Cheap checks of a ``--model`` value before any data is read; what the engine passes to
        :meth:`model_name` and :meth:`build` (a folder, or e.g. an endpoint's model name).

        Default: an existing local folder. Raise ``UserInputError`` naming the value and the fix.
        """
        folder = Path(model)
        if not folder.is_dir():
            raise UserInputError(f"--model {model}: no such folder; backend {self.name!r} loads a local model "
                                 "folder (the hub is not used)")
        return folder

    def model_name(self, model: str | Path) -> str:
        """The results folder name of a checked model (before the ``+<backend>`` suffix; the engine sanitises
        it): by default the folder's base name. A backend whose models are not folders (an endpoint's model
        name) may return another name."""
        return Path(str(model).rstrip("/\\")).name

    def check_options(self, options: RunOptions) -> None:
        """Backend-specific checks of the run options after :func:`check_run_options` (default: none)."""

    def run_dtype(self, options: RunOptions) -> str | None:
        """The dtype the model will run in (recorded in the store header; a resume under another fails).
        ``None``: known only once the model is loaded (the header is then checked after the load)."""
        return None if options.dtype in (None, "auto") else options.dtype

    def identity(self, options: RunOptions) -> dict[str, Any]:
        """``{"name", "version", "options"}``: recorded in results.json ``backend`` and in every prediction
        fingerprint (except for the default backend). ``options`` must hold every backend-specific setting
        that can change an answer."""
        return {"name": self.name, "version": self.version(), "options": dict(options.backend_options or {})}

    def decoding_for(self, task_name: str, generation: Mapping[str, Any]) -> DecodingChoice:
        """How this backend decodes a task whose settings are ``generation`` (called before any model loads).

        Default: exactly the task's settings when their mode is in ``capabilities.decoding``, else an
        ``UserInputError`` naming the task, its mode and the fix. A backend may override this to return
        other settings with a ``departure`` reason (a documented, recorded fallback).
        """
        mode = decoding_mode(generation)
        if mode in self.capabilities.decoding:
            return DecodingChoice(dict(generation), mode)
        settings = ", ".join(f"{key}={generation.get(key)}" for key in ("do_sample", "num_beams", "temperature")
                             if key in generation)
        raise UserInputError(
            f"task {task_name}: backend {self.name!r} cannot decode {mode} ({settings}); it supports "
            f"{', '.join(sorted(self.capabilities.decoding))}. Run that task with --backend {DEFAULT_BACKEND}, "
            "or leave it out of --tasks")

    def build(self, path: Path | str, options: RunOptions, context: Any) -> Any:
        """Load the model once and return a :class:`mg_eval.api.Generator` whose ``info`` holds at least
        ``name``, ``path``, ``weights_hash``, ``dtype``, ``device``. ``context``: the engine's
        ``DistContext`` (``rank``, ``local_rank``, ``world_size``, ``distributed``)."""
        raise NotImplementedError(f"backend {self.name!r} does not implement build()")


def rank_device(options: RunOptions, context: Any) -> str | None:
    """``--device`` as given; ``auto`` under torchrun with CUDA (no device map) -> this rank's local GPU."""
    device = options.device
    if device in (None, "auto") and getattr(context, "distributed", False) and not options.device_map:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{context.local_rank}"
    return device


#: Run options a backend must declare before a non-default value is accepted: (flag, attribute, test).
_FLAG_CHECKS: tuple[tuple[str, str, Any], ...] = (
    ("--continuous", "continuous", lambda options: bool(options.continuous)),
    ("--device-map", "device_map", lambda options: bool(options.device_map)),
    ("--encoder-root", "encoder_root", lambda options: options.encoder_root is not None),
)
#: Fast-decode options: (flag, key in ``RunOptions.decode``, value that asks for nothing, capability needed).
_DECODE_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    ("--attn", "attn", "eager", "attn"), ("--compile", "compile", False, "compile"),
    ("--compile", "cache", "dynamic", "compile"))


def _unsupported(flag: str, backend: Backend, what: str) -> UserInputError:
    other = f", or use --backend {DEFAULT_BACKEND}" if backend.name != DEFAULT_BACKEND else ""
    return UserInputError(f"{flag} is not supported by backend {backend.name!r} ({what}); drop {flag}{other}")


#: ``--device-map`` values that spread a model over this rank's GPUs (accelerate), besides a single device.
DEVICE_MAP_STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")


def _device_choices(flag: str) -> str:
    return "auto, cpu, cuda or cuda:N" + (f" (or {', '.join(DEVICE_MAP_STRATEGIES[1:])})"
                                          if flag == "--device-map" else "")


def parse_device(device: str, flag: str = "--device") -> Any:
    """``device`` as a ``torch.device``; ``UserInputError`` naming ``flag`` and the forms a device takes when torch
    does not read it as one (``gpu``)."""
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise UserInputError(f"{flag} {device!r} is not a device name; use {_device_choices(flag)}") from err


def check_device(device: str | None, flag: str = "--device") -> None:
    """``UserInputError`` naming ``flag`` when ``device`` is not a device of this machine (before anything loads):
    an unknown name, CUDA without a driver / GPU, or a CUDA index beyond the GPUs there are. ``--device-map``
    also takes the accelerate strategies (:data:`DEVICE_MAP_STRATEGIES`)."""
    import torch

    if device in (None, "auto") or (flag == "--device-map" and device in DEVICE_MAP_STRATEGIES):
        return
    parsed = parse_device(device, flag)
    if parsed.type != "cuda":
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise UserInputError(f"{flag} {device}: this machine has no usable CUDA GPU (no NVIDIA driver or no GPU "
                             "visible to torch); use --device cpu or auto")
    if parsed.index is not None and parsed.index >= count:
        raise UserInputError(f"{flag} {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}; "
                             "pick one of them")


def check_run_options(backend: Backend, options: RunOptions, world_size: int = 1) -> None:
    """Refuse every option the backend does not declare (one ``UserInputError`` naming the flag and the
    backend), then run the backend's own :meth:`Backend.check_options`. Called before data or models load."""
    capabilities = backend.capabilities
    for flag, attribute, asked in _FLAG_CHECKS:
        if asked(options) and not getattr(capabilities, attribute):
            raise _unsupported(flag, backend, f"it declares no {attribute.replace('_', ' ')}")
    for flag, key, default, needed in _DECODE_FLAGS:
        value = (options.decode or {}).get(key, default)
        if value != default and needed not in capabilities.decode_options:
            raise _unsupported(f"{flag} {value}" if flag == "--attn" else flag, backend,
                               f"fast-decode options it honours: {sorted(capabilities.decode_options) or 'none'}")
    device = str(options.device or "auto")
    if device != "auto" and parse_device(device).type not in capabilities.devices:
        raise _unsupported(f"--device {device}", backend, f"devices: {', '.join(capabilities.devices)}")
    if options.dtype not in (None, "auto") and options.dtype not in capabilities.dtypes:
        raise _unsupported(f"--dtype {options.dtype}", backend, f"dtypes: {', '.join(capabilities.dtypes)}")
    if world_size > 1 and not capabilities.distributed:
        raise _unsupported("torchrun (WORLD_SIZE > 1)", backend, "it runs in one process")
    for key in options.backend_options or {}:
        if key not in capabilities.options:
            known = ", ".join(capabilities.options) or "none"
            raise _unsupported(f"--backend-option {key}", backend, f"its options: {known}")
    backend.check_options(options)
