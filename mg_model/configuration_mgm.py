"""MGMConfig: the flat official Mini-Gemini config.json, with the language model built by composition.

A released MGM ``config.json`` is the base LLM's config with the MGM keys of spec §1.2 added at the top
level and ``model_type`` replaced by ``mgm`` / ``mgm_gemma`` / ``mgm_mixtral`` / ``mgm_mistral``.
``MGMConfig`` keeps that flat layout (so ``save_pretrained`` writes the official file back) and builds
the language model's own config on demand with :meth:`MGMConfig.llm_config`, for any transformers
causal-LM ``model_type`` (LLaMA/Vicuna/Yi/LLaMA-3 as ``llama``, Gemma, Mixtral, Mistral, ...).

Registration with ``AutoConfig`` / ``AutoModelForCausalLM`` is done by
:func:`mg_model.modeling_mgm.register_mgm` (it needs the model classes), which
``MGMForCausalLM.from_pretrained`` calls; importing this module registers nothing.
"""

from __future__ import annotations

import inspect
from typing import Any

from transformers import AutoConfig, PretrainedConfig

from .constants import LLM_TYPE_OF_MGM_TYPE
from .errors import MGMConfigError
from .fast_decode import OFFICIAL_LLM_ATTENTION

__all__ = [
    "CLIP_L_336_VISION_CONFIG", "CONFIG_CLASS_OF_TYPE", "CONVNEXT_LARGE_DEPTHS", "CONVNEXT_LARGE_DIMS",
    "LLM_TYPE_OF_MGM_TYPE", "MGM_DEFAULTS", "TOLERATED_EXTRA_KEYS", "MGMConfig", "MGMConfigError", "MGMGemmaConfig",
    "MGMMistralConfig", "MGMMixtralConfig", "config_from_dict", "projector_depth",
]

CLIP_L_336_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 768,
}
CONVNEXT_LARGE_DIMS = (192, 384, 768, 1536)
CONVNEXT_LARGE_DEPTHS = (3, 3, 27, 3)

# Every MGM key of spec §1.2 with the value of the released (non-HD) checkpoints, plus the keys this
# implementation adds (documented in docs/model.md): encoder architecture overrides for tiny models,
# the composed LLM type, and the drop-path opt-in.
MGM_DEFAULTS: dict[str, Any] = {
    "mm_vision_tower": "model_zoo/OpenAI/clip-vit-large-patch14-336",
    "mm_vision_tower_aux": "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup",
    "mm_hidden_size": 1024,
    "mm_hidden_size_aux": 2880,
    "mm_projector_type": "mlp2x_gelu",
    "use_mm_proj": True,
    "mm_vision_select_layer": -2,
    "mm_vision_select_feature": "patch",
    "image_size_aux": 768,
    "optimize_vision_tower": False,
    "optimize_vision_tower_aux": False,
    "image_grid": 1,
    "image_global": False,
    "image_aspect_ratio": "pad",
    "image_grid_pinpoints": None,
    "tokenizer_padding_side": "right",
    "tokenizer_model_max_length": 2048,
    "tune_mm_mlp_adapter": False,
    "freeze_mm_mlp_adapter": False,
    "mm_use_im_start_end": False,
    "mm_use_im_patch_token": False,
    "mm_projector_lr": None,
    # --- keys added by this implementation (absent from released files; defaults = released models) ---
    "llm_model_type": None,  # None: derived from model_type (mgm -> llama, mgm_gemma -> gemma, ...)
    "mm_vision_config": None,  # None: read from the CLIP directory, else CLIP ViT-L/14-336
    "hr_convnext_dims": None,  # None: ConvNeXt-L (192, 384, 768, 1536)
    "hr_convnext_depths": None,  # None: ConvNeXt-L (3, 3, 27, 3)
    "hr_drop_path_rate": 0.1,  # open_clip convnext_large_d_320 timm_drop_path
    "hr_drop_path_at_inference": False,  # True reproduces the official active DropPath (spec §4.4)
}

# Keys the LLaVA/MGM training code may leave in a config.json; accepted and kept, never used.
TOLERATED_EXTRA_KEYS = frozenset(
    {
        "model_path", "drop_path", "mm_patch_merge_type", "mm_resampler_type", "unfreeze_mm_vision_tower",
        "mm_vision_tower_lr", "image_crop_resolution", "image_split_resolution", "max_sequence_length",
        "rope_theta", "rope_scaling", "torch_dtype", "pretraining_tp", "_name_or_path", "transformers_version",
        "architectures", "use_cache", "_attn_implementation_autoset", "output_router_logits",
        "router_aux_loss_coef", "router_jitter_noise", "sliding_window", "attn_implementation",
        "hidden_activation",
    }
)
# PreTrainedConfig attributes that are not language-model hyper-parameters.
_GENERIC_CONFIG_KEYS = frozenset(PretrainedConfig().to_dict()) | {"model_type", "_commit_hash"}


class MGMConfig(PretrainedConfig):
    """Flat Mini-Gemini config: MGM keys of spec §1.2 + the base LLM's keys (composition).

    Args:
        **kwargs: the keys of a released ``config.json``. MGM keys default to the released non-HD values
            (:data:`MGM_DEFAULTS`); the other keys must be fields of the language model's config class
            (``llm_model_type``, derived from ``model_type``), else :class:`MGMConfigError` is raised.
    """

    model_type = "mgm"

    def __init__(self, **kwargs: Any) -> None:
        mgm_values = {key: kwargs.pop(key, default) for key, default in MGM_DEFAULTS.items()}
        for key, value in mgm_values.items():
            setattr(self, key, _to_plain(value))
        null_rope_scaling = "rope_scaling" in kwargs and kwargs["rope_scaling"] is None
        if null_rope_scaling:  # transformers 4.x wrote `rope_scaling: null`; keep it without a deprecation warning
            del kwargs["rope_scaling"]
        super().__init__(**kwargs)
        if null_rope_scaling:
            self.__dict__["rope_scaling"] = None
        self.validate()

    # ----------------------------------------------------------------------------------------- helpers
    @property
    def llm_type(self) -> str:
        """The transformers ``model_type`` of the composed language model (e.g. ``"llama"``)."""
        if self.llm_model_type:
            return str(self.llm_model_type)
        if self.model_type not in LLM_TYPE_OF_MGM_TYPE:
            raise MGMConfigError(
                f"model_type {self.model_type!r} is not an MGM type; use one of "
                f"{sorted(LLM_TYPE_OF_MGM_TYPE)} or set 'llm_model_type'"
            )
        return LLM_TYPE_OF_MGM_TYPE[self.model_type]

    def llm_keys(self) -> dict[str, Any]:
        """The flat keys that belong to the language model (everything but MGM and generic keys)."""
        own = self.to_dict()
        # callables: vLLM copies any attribute named ``llm_config`` to ``text_config`` (its config remapping),
        # which here is this class's method; a method is never an LLM key
        return {
            key: value
            for key, value in own.items()
            if key not in MGM_DEFAULTS and key not in _GENERIC_CONFIG_KEYS and key not in ("model_path",)
            and not callable(value)
        }

    def llm_config(self) -> PretrainedConfig:
        """Build the language model's transformers config (e.g. ``LlamaConfig``) from the flat keys."""
        keys = self.llm_keys()
        for key in ("bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings", "dtype"):
            if hasattr(self, key) and key not in keys:
                keys[key] = getattr(self, key)
        for unused in ("model_path", "drop_path", "torch_dtype"):
            keys.pop(unused, None)
        if "rope_scaling" in keys and keys["rope_scaling"] is None:
            del keys["rope_scaling"]
        if "hidden_activation" in keys:
            # Gemma configs written by transformers >= 4.38.2: `hidden_activation` (tanh-GELU when null) wins
            # over `hidden_act`; transformers 5 itself maps a legacy Gemma `hidden_act: gelu` to tanh-GELU.
            keys["hidden_act"] = keys.pop("hidden_activation") or "gelu_pytorch_tanh"
        config = AutoConfig.for_model(self.llm_type, **keys)
        config._attn_implementation = OFFICIAL_LLM_ATTENTION  # official pin; `--attn sdpa` switches at run time
        return config

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None) -> PretrainedConfig:
        """The composed language-model config (what generation and caches read)."""
        return self.llm_config()

    def clip_vision_config_dict(self) -> dict[str, Any]:
        """CLIP vision hyper-parameters: ``mm_vision_config`` when set, else CLIP ViT-L/14-336."""
        return dict(self.mm_vision_config or CLIP_L_336_VISION_CONFIG)

    @property
    def convnext_dims(self) -> tuple[int, ...]:
        """Stage widths of the HR ConvNeXt (ConvNeXt-L unless ``hr_convnext_dims`` is set)."""
        return tuple(self.hr_convnext_dims or CONVNEXT_LARGE_DIMS)

    @property
    def convnext_depths(self) -> tuple[int, ...]:
        """Blocks per stage of the HR ConvNeXt (ConvNeXt-L unless ``hr_convnext_depths`` is set)."""
        return tuple(self.hr_convnext_depths or CONVNEXT_LARGE_DEPTHS)

    @property
    def num_image_views(self) -> int:
        """LR views encoded per image: grid² crops plus one global view when ``image_global``."""
        return self.image_grid**2 + int(bool(self.image_global))

    # -------------------------------------------------------------------------------------- validation
    def validate(self, require_clip: bool = False) -> None:
        """Raise :class:`MGMConfigError` for unknown keys or contradictory values (before any weights).

        Checks that need the CLIP hyper-parameters run when ``mm_vision_config`` is known, or with
        ``require_clip`` (then CLIP ViT-L/14-336 is assumed), as the model constructor does.
        """
        self._check_unknown_keys()
        self._check_vision_keys(require_clip)

    def _check_unknown_keys(self) -> None:
        llm_type = self.llm_type
        try:
            llm_class = type(AutoConfig.for_model(llm_type))
        except ValueError as err:
            raise MGMConfigError(f"llm_model_type {llm_type!r} is not a transformers model type: {err}") from err
        allowed = set(inspect.signature(llm_class.__init__).parameters) | set(llm_class().to_dict())
        allowed |= set(getattr(llm_class, "attribute_map", {}))
        unknown = sorted(
            key
            for key in self.llm_keys()
            if key not in allowed and key not in TOLERATED_EXTRA_KEYS and not key.startswith("_")
        )
        if unknown:
            raise MGMConfigError(
                f"config.json has unknown key(s) {unknown}: they are neither MGM keys (spec §1.2) nor fields "
                f"of {llm_class.__name__} (model_type {self.model_type!r} -> LLM {llm_type!r}). Remove them, fix "
                "their spelling, or set 'llm_model_type' to the right language model."
            )

    def _check_vision_keys(self, require_clip: bool) -> None:
        problems = []
        if int(self.image_grid) < 1:
            problems.append(f"image_grid={self.image_grid} must be >= 1")
        if self.image_global and int(self.image_grid) < 2:
            problems.append("image_global=true needs image_grid >= 2 (the global view exists only for HD grids)")
        if self.mm_vision_select_feature not in ("patch", "cls_patch"):
            problems.append(f"mm_vision_select_feature={self.mm_vision_select_feature!r} must be 'patch' or 'cls_patch'")
        if self.tokenizer_padding_side not in ("left", "right"):
            problems.append(f"tokenizer_padding_side={self.tokenizer_padding_side!r} must be 'left' or 'right'")
        if not _projector_depth(self.mm_projector_type):
            problems.append(f"mm_projector_type={self.mm_projector_type!r} must be 'linear' or 'mlp<N>x_gelu'")
        if self.image_aspect_ratio not in ("pad", "square", None):
            problems.append(f"image_aspect_ratio={self.image_aspect_ratio!r} must be 'pad' or 'square'")
        if len(self.convnext_dims) != 4 or len(self.convnext_depths) != 4:
            problems.append("hr_convnext_dims and hr_convnext_depths need 4 entries (stem + 4 stages)")
        if int(self.mm_hidden_size_aux) != sum(self.convnext_dims):
            problems.append(
                f"mm_hidden_size_aux={self.mm_hidden_size_aux} but the ConvNeXt stage widths {self.convnext_dims} "
                f"sum to {sum(self.convnext_dims)}"
            )
        if self.mm_vision_config is not None or require_clip:
            problems += self._clip_problems()
        self._raise_if(problems)

    def _clip_problems(self) -> list[str]:
        problems = []
        clip = self.clip_vision_config_dict()
        if int(self.mm_hidden_size) != int(clip["hidden_size"]):
            problems.append(f"mm_hidden_size={self.mm_hidden_size} but the CLIP width is {clip['hidden_size']}")
        lr_side = int(clip["image_size"]) // int(clip["patch_size"])
        hr_map = int(self.image_size_aux) // 4
        if hr_map % (lr_side * int(self.image_grid)) != 0:
            problems.append(
                f"image_size_aux={self.image_size_aux}: the stride-4 HR map side {hr_map} is not a multiple of "
                f"LR token side {lr_side} x image_grid {self.image_grid}, so HR cells cannot be grouped per token"
            )
        return problems

    @staticmethod
    def _raise_if(problems: list[str]) -> None:
        if problems:
            raise MGMConfigError("contradictory MGM config: " + "; ".join(problems))


def _projector_depth(projector_type: str) -> int:
    """Number of Linear layers of ``mm_projector_type`` (0 when the type is not supported)."""
    if projector_type == "linear":
        return 1
    if projector_type.startswith("mlp") and projector_type.endswith("x_gelu"):
        middle = projector_type[3 : -len("x_gelu")]
        return int(middle) if middle.isdigit() and int(middle) >= 1 else 0
    return 0


def projector_depth(projector_type: str) -> int:
    """Public form of the projector-type parser: 1 for ``linear``, N for ``mlpNx_gelu``, else 0."""
    return _projector_depth(projector_type)


def _to_plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class MGMGemmaConfig(MGMConfig):
    """MGMConfig for ``model_type: mgm_gemma`` (MGM-2B; the language model is Gemma)."""

    model_type = "mgm_gemma"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class MGMMixtralConfig(MGMConfig):
    """MGMConfig for ``model_type: mgm_mixtral`` (MGM-8x7B; the language model is Mixtral)."""

    model_type = "mgm_mixtral"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class MGMMistralConfig(MGMConfig):
    """MGMConfig for ``model_type: mgm_mistral`` (declared by the official code, no released model)."""

    model_type = "mgm_mistral"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


CONFIG_CLASS_OF_TYPE: dict[str, type[MGMConfig]] = {
    "mgm": MGMConfig,
    "mgm_gemma": MGMGemmaConfig,
    "mgm_mixtral": MGMMixtralConfig,
    "mgm_mistral": MGMMistralConfig,
}

def config_from_dict(values: dict[str, Any]) -> MGMConfig:
    """Build the right MGMConfig subclass for ``values['model_type']`` (default ``mgm``)."""
    model_type = values.get("model_type", "mgm")
    if model_type not in CONFIG_CLASS_OF_TYPE:
        raise MGMConfigError(
            f"config.json model_type {model_type!r} is not an MGM type; expected one of {sorted(CONFIG_CLASS_OF_TYPE)}"
        )
    clean = {key: value for key, value in values.items() if key != "model_type"}
    return CONFIG_CLASS_OF_TYPE[model_type](**clean)
