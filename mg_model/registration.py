"""The package's only global side effect: registering the MGM model types with transformers' Auto classes.

:func:`register_model_types` runs inside ``MGMForCausalLM.from_pretrained`` and ``build_tiny_*`` (through
:func:`mg_model.modeling_mgm.register_mgm`, which passes the model classes in), never at import time.
"""

from __future__ import annotations

from collections.abc import Mapping

from .configuration_mgm import CONFIG_CLASS_OF_TYPE, MGMConfig

_REGISTERED = False


def register_model_types(model_class_of_config: Mapping[type[MGMConfig], type]) -> None:
    """Register ``mgm``, ``mgm_gemma``, ``mgm_mixtral``, ``mgm_mistral`` with AutoConfig / AutoModelForCausalLM.

    Idempotent. ``model_class_of_config`` maps each MGM config class to its model class.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoConfig, AutoModelForCausalLM

    for model_type, config_class in CONFIG_CLASS_OF_TYPE.items():
        AutoConfig.register(model_type, config_class, exist_ok=True)
        AutoModelForCausalLM.register(config_class, model_class_of_config[config_class], exist_ok=True)
    _REGISTERED = True
