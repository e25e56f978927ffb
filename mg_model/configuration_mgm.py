"""MGMConfig: the flat official Mini-Gemini config.json, with the language model built by composition.

A released MGM ``config.json`` is the base LLM's config with the MGM keys of docs/official_code.md#config-keys added at the top
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

from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, PretrainedConfig

from .constants import LLM_TYPE_OF_MGM_TYPE
from .errors import MGMConfigError
from .generation.fast_decode import OFFICIAL_LLM_ATTENTION

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

# Every MGM key of docs/official_code.md#config-keys with the value of the released (non-HD) checkpoints, plus the keys this
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
    "hr_drop_path_at_inference": False,  # True reproduces the official active DropPath (docs/official_code.md#convnext-drop-path-at-inference)
}

# The types of the MGM keys this implementation reads (checked before any other check uses them); the others are
# training flags of the official code, kept in the file and never read.
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("mm_vision_tower", "mm_vision_tower_aux", "mm_projector_type", "mm_vision_select_feature",
                     "tokenizer_padding_side"), (str,)),
    **dict.fromkeys(("mm_hidden_size", "mm_hidden_size_aux", "mm_vision_select_layer", "image_size_aux", "image_grid",
                     "tokenizer_model_max_length"), (int,)),
    **dict.fromkeys(("optimize_vision_tower", "optimize_vision_tower_aux", "image_global",
                     "hr_drop_path_at_inference"), (bool,)),
    "image_aspect_ratio": (str, type(None)), "llm_model_type": (str, type(None)),
    "mm_vision_config": (dict, type(None)), "hr_convnext_dims": (list, type(None)),
    "hr_convnext_depths": (list, type(None)), "hr_drop_path_rate": (int, float),
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
    r"""Flat Mini-Gemini config: the MGM keys of docs/official_code.md#config-keys + the base LLM's keys (composition).

    This is the configuration class of :class:`mg_model.MGMForCausalLM`; it reads and writes the ``config.json``
    of a released checkpoint unchanged. Every default below is the value of the released non-HD checkpoints
    (e.g. MGM-7B); the HD variants set ``image_size_aux=1536``, ``image_grid=2``, ``image_global=True``,
    ``tokenizer_model_max_length=4096`` (``mg_model.variants``). Unknown or contradictory keys raise :class:`MGMConfigError` (before any weights).

    Args:
        mm_vision_tower (`str`, *optional*, defaults to `"model_zoo/OpenAI/clip-vit-large-patch14-336"`):
            Folder of the low-resolution encoder (CLIP ViT-L/14-336), relative to a ``model_zoo`` root, the
            checkpoint folder or its parent (``encoder_root`` of ``from_pretrained`` names another root).
        mm_vision_tower_aux (`str`, *optional*, defaults to `"model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup"`):
            Folder of the high-resolution encoder (open_clip ConvNeXt-L), found the same way.
        mm_hidden_size (`int`, *optional*, defaults to 1024):
            Width of the low-resolution visual tokens (the CLIP hidden size): the input of ``mm_projector``.
        mm_hidden_size_aux (`int`, *optional*, defaults to 2880):
            Channels of the high-resolution feature map (the ConvNeXt stage widths concatenated, 192 + 384 +
            768 + 1536); the input of the mining key/value projections.
        mm_projector_type (`str`, *optional*, defaults to `"mlp2x_gelu"`):
            The projector to the LLM width: ``"linear"`` or ``"mlp<N>x_gelu"`` (N Linear layers with GELU between).
        use_mm_proj (`bool`, *optional*, defaults to `True`):
            Training flag of the official code (a projector exists); kept in the file, not read.
        mm_vision_select_layer (`int`, *optional*, defaults to -2):
            The CLIP hidden state used as visual tokens (-2: the penultimate layer).
        mm_vision_select_feature (`str`, *optional*, defaults to `"patch"`):
            ``"patch"`` drops the CLS token, ``"cls_patch"`` keeps it.
        image_size_aux (`int`, *optional*, defaults to 768):
            Side in pixels of the image the high-resolution encoder sees, the side preprocessing runs at (1536 for
            HD).
        optimize_vision_tower (`bool`, *optional*, defaults to `False`):
            Train the CLIP encoder (gradients flow through it; the official code then trains its second half).
        optimize_vision_tower_aux (`bool`, *optional*, defaults to `False`):
            Train the ConvNeXt encoder (the official code then trains the last block of each stage).
        image_grid (`int`, *optional*, defaults to 1):
            Side g of the low-resolution crop grid: g² crops of 336 px per image (2 for HD).
        image_global (`bool`, *optional*, defaults to `False`):
            Add one global low-resolution view to the g² crops (HD; needs ``image_grid >= 2``).
        image_aspect_ratio (`str`, *optional*, defaults to `"pad"`):
            ``"pad"``: pad the image to a square with the CLIP mean colour before resizing; ``"square"``: resize.
        image_grid_pinpoints (`list`, *optional*, defaults to `None`):
            LLaVA's any-resolution grid; unused by MGM, kept in the file.
        tokenizer_padding_side (`str`, *optional*, defaults to `"right"`):
            Side on which ``forward`` pads a batch (``generate`` pads left).
        tokenizer_model_max_length (`int`, *optional*, defaults to 2048):
            Most tokens per sample after the image placeholder is replaced; longer inputs are cut at the end.
        tune_mm_mlp_adapter (`bool`, *optional*, defaults to `False`):
            Training flag of the official code (stage 1 trains only the projector); kept in the file, not read.
        freeze_mm_mlp_adapter (`bool`, *optional*, defaults to `False`):
            Training flag of the official code; kept in the file, not read.
        mm_use_im_start_end (`bool`, *optional*, defaults to `False`):
            LLaVA's image start/end tokens; off in every released MGM model, kept in the file.
        mm_use_im_patch_token (`bool`, *optional*, defaults to `False`):
            LLaVA's image patch token; off in every released MGM model, kept in the file.
        mm_projector_lr (`float`, *optional*, defaults to `None`):
            Separate learning rate of the projector in training (`None`: the main one); kept in the file.
        llm_model_type (`str`, *optional*, defaults to `None`):
            Added by this implementation: the transformers ``model_type`` of the language model; `None` derives
            it from ``model_type`` (``mgm`` -> ``llama``, ``mgm_gemma`` -> ``gemma``, ``mgm_mixtral`` ->
            ``mixtral``, ``mgm_mistral`` -> ``mistral``).
        mm_vision_config (`dict`, *optional*, defaults to `None`):
            Added: the CLIP hyper-parameters (``hidden_size``, ``image_size``, ``patch_size``, ...); `None` reads
            them from the CLIP folder, else CLIP ViT-L/14-336. Tiny models set it.
        hr_convnext_dims (`list[int]`, *optional*, defaults to `None`):
            Added: the four ConvNeXt stage widths; `None` is ConvNeXt-L (192, 384, 768, 1536).
        hr_convnext_depths (`list[int]`, *optional*, defaults to `None`):
            Added: blocks per ConvNeXt stage; `None` is ConvNeXt-L (3, 3, 27, 3).
        hr_drop_path_rate (`float`, *optional*, defaults to 0.1):
            Added: the ConvNeXt stochastic-depth rate (open_clip's ``timm_drop_path`` of the official encoder).
        hr_drop_path_at_inference (`bool`, *optional*, defaults to `False`):
            Added: keep that drop-path active in ``eval()`` as the official code does (stochastic; docs/official_code.md#convnext-drop-path-at-inference).
        **kwargs:
            The language model's own keys (``hidden_size``, ``num_hidden_layers``, ``vocab_size``, ...), which
            must be fields of the config class of ``llm_model_type`` (e.g. ``LlamaConfig``), and the generic
            :class:`~transformers.PretrainedConfig` keys. :meth:`llm_config` builds that config from them.

    Example:

    ```python
    >>> from mg_model import MGMConfig
    >>> config = MGMConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    ...                    vocab_size=1000, image_grid=2, image_global=True, image_size_aux=1536)
    >>> config.num_image_views, config.llm_config().model_type
    (5, 'llama')
    ```
    """

    model_type = "mgm"

    def __init__(self, **kwargs: Any) -> None:
        mgm_values = {key: kwargs.pop(key, default) for key, default in MGM_DEFAULTS.items()}
        for key, value in mgm_values.items():
            setattr(self, key, _to_plain(value))
        null_rope_scaling = "rope_scaling" in kwargs and kwargs["rope_scaling"] is None
        if null_rope_scaling:  # transformers 4.x wrote `rope_scaling: null`; keep it without a deprecation warning
            del kwargs["rope_scaling"]
        try:  # transformers' strict validation builds the LLM config (``get_text_config``): wrong value types
            super().__init__(**kwargs)
        except (StrictDataclassError, TypeError, ValueError) as err:
            raise _value_error(err, self.llm_model_type or LLM_TYPE_OF_MGM_TYPE.get(self.model_type)) from err
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
        self._check_key_types()
        self._check_unknown_keys()
        self._check_vision_keys(require_clip)

    def _check_key_types(self) -> None:
        wrong = []
        for key, types in _KEY_TYPES.items():
            value = getattr(self, key)
            is_int_for_bool = isinstance(value, bool) and bool not in types  # JSON true is no width
            listed = isinstance(value, list) and not all(isinstance(item, int) for item in value)
            if not isinstance(value, types) or is_int_for_bool or listed:
                expected = " or ".join("null" if t is type(None) else "a list of int" if t is list else t.__name__
                                       for t in types)
                wrong.append(f"{key!r} must be {expected}, got {value!r}")
        if wrong:
            raise MGMConfigError(f"config.json: {'; '.join(wrong)}; fix that value in config.json")

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
                f"config.json has unknown key(s) {unknown}: they are neither MGM keys (docs/official_code.md#config-keys) nor fields "
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


def _value_error(err: Exception, llm_type: str | None) -> MGMConfigError:
    """:class:`MGMConfigError` for a value the LLM config class refuses, with the innermost cause's words
    (e.g. "Field 'hidden_size' expected int, got str (value: '64')")."""
    while err.__cause__ is not None:
        err = err.__cause__
    return MGMConfigError(f"config.json: {' '.join(str(err).split())} (language model {llm_type!r}); fix that "
                          "value in config.json")


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
