"""The ``hf-vlm`` backend: any transformers image-text-to-text model (``AutoModelForImageTextToText`` +
``AutoProcessor`` + a chat template): LLaVA-1.5 / 1.6 / OneVision, Qwen2-VL / 2.5-VL, Idefics3, ...

Baselines run by the same harness, on the same data, with the same scorer and judge as the MGM runs. The
prompt protocol defaults to ``lmms`` (each benchmark's generic prompt, as lmms-eval / VLMEvalKit give a chat
model); ``--protocol mgm --backend-option template=vicuna_v1`` gives LLaVA-1.5-style models the MGM /
LLaVA-1.5 scripts' prompts. Options: ``template`` (``chat`` or an ``mg_model.conversation`` name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mg_eval.api import RunOptions
from mg_eval.backends.base import DECODING_MODES, Backend, BackendCapabilities, rank_device
from mg_eval.errors import UserInputError

#: Where a checkpoint of ours must go instead.
_MGM_HINT = "it is a Mini-Gemini checkpoint: run it with --backend mgm"


class HFVLMBackend(Backend):
    """Transformers vision-language models through their own processor and chat template."""

    name = "hf-vlm"
    description = "any transformers image-text-to-text model (AutoModelForImageTextToText + AutoProcessor)"
    package = "transformers"
    default_protocol = "lmms"
    capabilities = BackendCapabilities(
        decoding=frozenset(DECODING_MODES), sharing=False, continuous=False, devices=("cpu", "cuda", "mps"),
        decode_options=frozenset({"attn"}), device_map=True, encoder_root=False, distributed=True,
        options=("template",))

    def check_model(self, model: str | Path) -> Path:
        """A folder whose config.json names a model type ``AutoModelForImageTextToText`` can load (cheap)."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

        from mg_eval.models.hf_vlm import read_config
        from mg_model.configuration_mgm import CONFIG_CLASS_OF_TYPE

        folder = Path(model)
        if not folder.is_dir():
            raise UserInputError(f"--model {model}: no such folder; --backend hf-vlm loads a local transformers "
                                 "model folder (the hub is not used: download it first, e.g. "
                                 "`hf download ID --local-dir DIR`)")
        config = read_config(folder)
        model_type = config.get("model_type")
        architectures = config.get("architectures") or []
        if model_type in CONFIG_CLASS_OF_TYPE:
            raise UserInputError(f"--model {folder}: model_type {model_type!r}: {_MGM_HINT}")
        if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            raise UserInputError(
                f"--model {folder}: config.json has model_type {model_type!r} (architectures {architectures}), which "
                "AutoModelForImageTextToText cannot load; --backend hf-vlm needs an image-text-to-text model "
                "(model_type llava, llava_next, llava_onevision, qwen2_vl, qwen2_5_vl, idefics3, ...)")
        return folder

    def check_options(self, options: RunOptions) -> None:
        """``template`` must be ``chat`` or an official conversation template (before anything loads)."""
        from mg_eval.models.hf_vlm import CHAT_TEMPLATE, conversation_template

        template = (options.backend_options or {}).get("template", CHAT_TEMPLATE)
        if template != CHAT_TEMPLATE:
            conversation_template(str(template))

    def run_dtype(self, options: RunOptions) -> str | None:
        """``auto`` resolved as the model will be loaded (float16 on GPU, float32 on CPU)."""
        from mg_eval.models.mgm import resolve_device, resolve_dtype

        return resolve_dtype(options.dtype, resolve_device(options.device))

    def identity(self, options: RunOptions) -> dict[str, Any]:
        """Name, transformers' version, and the template option (``chat`` when not given)."""
        from mg_eval.models.hf_vlm import CHAT_TEMPLATE

        identity = super().identity(options)
        identity["options"] = {"template": CHAT_TEMPLATE} | identity["options"]
        return identity

    def build(self, path: Path, options: RunOptions, context: Any) -> Any:
        """Processor (checked: image processor, chat template) then model; under NCCL the rank's local GPU."""
        from mg_eval.models.hf_vlm import CHAT_TEMPLATE, HFVLMGenerator

        return HFVLMGenerator.from_pretrained(
            path, dtype=options.dtype, device=rank_device(options, context), device_map=options.device_map,
            attn=str((options.decode or {}).get("attn", "eager")),
            template=str((options.backend_options or {}).get("template", CHAT_TEMPLATE)))
