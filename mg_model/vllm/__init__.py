"""Mini-Gemini inside vLLM: the model, its multimodal processor and the plugin entry point.

Only this sub-package imports vLLM (``import mg_model`` never does). ``register()`` is the
``vllm.general_plugins`` entry point of the ``mini-gemini-eval`` distribution: vLLM calls it in every engine
and worker process, and it registers

* the four MGM config types (``mgm``, ``mgm_gemma``, ``mgm_mixtral``, ``mgm_mistral``) with transformers'
  ``AutoConfig``, so vLLM can read a released ``config.json``;
* the released architectures (``MGMLlamaForCausalLM``, ``MGMGemmaForCausalLM``, ``MGMMixtralForCausalLM``,
  ``MGMMistralForCausalLM``) with vLLM's ``ModelRegistry``, all served by
  :class:`mg_model.vllm.model.MGMForConditionalGeneration` (loaded lazily, by name).

So ``pip install mini-gemini-eval[vllm]`` then ``vllm serve /path/MGM-7B`` works (docs/vllm.md).
"""

from __future__ import annotations

from mg_model.checkpoint.saving import ARCHITECTURE_OF_TYPE

#: "module:Class" of the vLLM model that serves every MGM architecture
MODEL_CLASS_PATH = "mg_model.vllm.model:MGMForConditionalGeneration"


def register() -> None:
    """Register MGM's configs with transformers and its architectures with vLLM (idempotent)."""
    from vllm import ModelRegistry

    from mg_model.modeling_mgm import register_mgm

    register_mgm()
    supported = set(ModelRegistry.get_supported_archs())
    for architecture in ARCHITECTURE_OF_TYPE.values():
        if architecture not in supported:
            ModelRegistry.register_model(architecture, MODEL_CLASS_PATH)
