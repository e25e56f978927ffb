"""MGMConfig: official keys and defaults (docs/official_code.md#config-keys), composition, named variants, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mg_model import MGMConfig, MGMConfigError, variant_config, variant_names
from mg_model.configuration_mgm import MGM_DEFAULTS, config_from_dict

# A released-style config.json (MGM-7B: Vicuna-7B keys as written by transformers 4.36 + MGM keys).
OFFICIAL_7B = {
    "_name_or_path": "work_dirs/MGM-7B", "architectures": ["MGMLlamaForCausalLM"], "attention_bias": False,
    "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "freeze_mm_mlp_adapter": False,
    "hidden_act": "silu", "hidden_size": 4096, "image_aspect_ratio": "pad", "image_global": False,
    "image_grid": 1, "image_grid_pinpoints": None, "image_size_aux": 768, "initializer_range": 0.02,
    "intermediate_size": 11008, "max_position_embeddings": 4096, "mm_hidden_size": 1024,
    "mm_hidden_size_aux": 2880, "mm_projector_lr": None, "mm_projector_type": "mlp2x_gelu",
    "mm_use_im_patch_token": False, "mm_use_im_start_end": False, "mm_vision_select_feature": "patch",
    "mm_vision_select_layer": -2, "mm_vision_tower": "model_zoo/OpenAI/clip-vit-large-patch14-336",
    "mm_vision_tower_aux": "model_zoo/OpenAI/openclip-convnext-large-d-320-laion2B-s29B-b131K-ft-soup",
    "model_type": "mgm", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "optimize_vision_tower": False, "optimize_vision_tower_aux": False, "pad_token_id": 0, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False,
    "tokenizer_model_max_length": 2048, "tokenizer_padding_side": "right", "torch_dtype": "bfloat16",
    "transformers_version": "4.36.2", "tune_mm_mlp_adapter": False, "use_cache": True, "use_mm_proj": True,
    "vocab_size": 32000,
}


def test_official_config_json_is_read_with_the_llm_by_composition() -> None:
    config = config_from_dict(OFFICIAL_7B)
    assert type(config) is MGMConfig and config.llm_type == "llama"
    llm = config.llm_config()
    assert type(llm).__name__ == "LlamaConfig"
    assert (llm.hidden_size, llm.num_hidden_layers, llm.vocab_size, llm.rms_norm_eps) == (4096, 32, 32000, 1e-5)
    assert config.image_size_aux == 768 and config.mm_vision_select_layer == -2
    assert config.hr_drop_path_at_inference is False  # eval-mode ConvNeXt unless the user opts in


def test_defaults_equal_the_released_non_hd_values() -> None:
    config = MGMConfig(hidden_size=64)
    for key in ("mm_hidden_size", "mm_hidden_size_aux", "mm_projector_type", "mm_vision_select_layer",
                "mm_vision_select_feature", "image_size_aux", "image_grid", "image_global", "image_aspect_ratio",
                "tokenizer_padding_side", "tokenizer_model_max_length", "mm_use_im_start_end"):
        assert getattr(config, key) == OFFICIAL_7B[key], key
    assert set(MGM_DEFAULTS) >= {k for k in OFFICIAL_7B if k.startswith(("mm_", "image_", "tokenizer_"))}


@pytest.mark.parametrize(
    ("name", "llm_class", "hidden", "aux", "grid"),
    [
        ("mgm-2b", "GemmaConfig", 2048, 768, 1),
        ("mgm-7b", "LlamaConfig", 4096, 768, 1),
        ("mgm-13b-hd", "LlamaConfig", 5120, 1536, 2),
        ("mgm-8b", "LlamaConfig", 4096, 768, 1),
        ("mgm-8x7b-hd", "MixtralConfig", 4096, 1536, 2),
        ("mgm-34b", "LlamaConfig", 7168, 768, 1),
    ],
)
def test_named_variants(name: str, llm_class: str, hidden: int, aux: int, grid: int) -> None:
    config = variant_config(name)
    config.validate(require_clip=True)
    assert type(config.llm_config()).__name__ == llm_class
    assert (config.hidden_size, config.image_size_aux, config.image_grid) == (hidden, aux, grid)
    assert config.image_global is (grid == 2)
    assert config.tokenizer_model_max_length == (4096 if grid == 2 else 2048)


def test_variant_names_cover_releases_and_tiny() -> None:
    names = set(variant_names())
    assert {"mgm-2b", "mgm-7b", "mgm-13b", "mgm-8b", "mgm-8x7b", "mgm-34b", "mgm-7b-hd", "mgm-34b-hd"} <= names
    assert {"tiny", "tiny-hd", "tiny-gemma", "tiny-mixtral", "tiny-mistral"} <= names
    assert "mgm-2b-hd" not in names  # not released
    with pytest.raises(MGMConfigError, match="unknown MGM variant"):
        variant_config("mgm-70b")


def test_unknown_key_names_the_key_and_the_llm_class() -> None:
    with pytest.raises(MGMConfigError, match=r"\['image_grid_size'\].*LlamaConfig"):
        config_from_dict({**OFFICIAL_7B, "image_grid_size": 2})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image_global": True}, "image_global=true needs image_grid >= 2"),
        ({"mm_hidden_size_aux": 2048}, "mm_hidden_size_aux=2048"),
        ({"mm_projector_type": "qformer"}, "mm_projector_type"),
        ({"image_size_aux": 800}, "image_size_aux=800"),
        ({"model_type": "mgm_llava"}, "not an MGM type"),
    ],
)
def test_contradictory_values_are_rejected(change: dict, message: str) -> None:
    with pytest.raises(MGMConfigError, match=message):
        config = config_from_dict({**OFFICIAL_7B, **change})
        config.validate(require_clip=True)


def test_serialisation_is_flat_and_round_trips() -> None:
    config = variant_config("tiny-mixtral-hd")
    values = config.to_dict()
    assert values["model_type"] == "mgm_mixtral" and values["num_local_experts"] == 4
    assert "text_config" not in values
    again = config_from_dict(values)
    assert again.to_dict() == values


def test_import_changes_no_global_state() -> None:
    code = (
        "import os, logging, torch\n"
        "env = dict(os.environ); threads = torch.get_num_threads(); dtype = torch.get_default_dtype()\n"
        "import mg_model\n"
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
        "assert 'mgm' not in CONFIG_MAPPING, 'registered at import'\n"
        "assert dict(os.environ) == env and torch.get_num_threads() == threads\n"
        "assert torch.get_default_dtype() == dtype\n"
        "mg_model.register_mgm()\n"
        "assert all(t in CONFIG_MAPPING for t in ('mgm', 'mgm_gemma', 'mgm_mixtral', 'mgm_mistral'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_key_is_documented_with_its_released_default() -> None:
    """``MGMConfig``'s ``Args:`` (as transformers documents its configs) names every MGM key with the default
    the code uses (the released checkpoint's value) and a meaning."""
    import ast
    import re

    documented = {match["key"]: match for match in re.finditer(
        r"^        (?P<key>\w+) \(`[^`]+`, \*optional\*, defaults to (?P<default>.+?)\):\n {12}\S",
        MGMConfig.__doc__ or "", flags=re.MULTILINE)}
    assert sorted(documented) == sorted(MGM_DEFAULTS)
    for key, default in MGM_DEFAULTS.items():
        assert ast.literal_eval(documented[key]["default"].strip("`")) == default, key


def test_a_value_of_the_wrong_type_names_the_key() -> None:
    with pytest.raises(MGMConfigError, match=r"'hidden_size' expected int, got str .*fix that value in config.json"):
        MGMConfig(hidden_size="64")
