"""The adapter from any transformers image-text-to-text model to the engine (the ``hf-vlm`` backend's Generator).

The model is loaded with ``AutoModelForImageTextToText`` and its ``AutoProcessor``; prompts are rendered by the
model's own chat template (one user turn: the image, then the text, as lmms-eval's and VLMEvalKit's chat-model
wrappers do) or, for LLaVA-1.5-style models under the ``mgm`` protocol, by one of the official conversation
templates (``mg_model.conversation``; ``--backend-option template=vicuna_v1``). Images go through the model's
own processor; batches are left padded, so a sample's greedy tokens do not depend on its neighbours
(tests/test_hf_vlm.py checks batch sizes 1, 2 and 5 against each other).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from mg_eval.errors import UserInputError
from mg_eval.models.base import cut_at_stops, hf_generation_kwargs
from mg_eval.models.hashing import weights_hash

#: ``--backend-option template=chat``: the model's own chat template (the default).
CHAT_TEMPLATE = "chat"
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a model folder as a dict; a missing or broken file is a ``UserInputError``."""
    path = folder / "config.json"
    if not path.is_file():
        raise UserInputError(f"--model {folder}: no config.json; point --model at a transformers model folder "
                             "(the one holding config.json, the weights and the processor files)")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path} is not valid JSON ({exc}); restore the model's config.json") from None
    if not isinstance(values, dict):
        raise UserInputError(f"{path} holds {type(values).__name__}, not a JSON object; restore the model's "
                             "config.json")
    return values


def chat_template_of(processor: Any) -> str | None:
    """The processor's chat template (or its tokenizer's), ``None`` when there is none."""
    template = getattr(processor, "chat_template", None)
    if not template:
        template = getattr(getattr(processor, "tokenizer", None), "chat_template", None)
    return template or None


def load_processor(folder: Path, template: str) -> Any:
    """``AutoProcessor`` of the folder, checked: it must process images, and have a chat template unless an
    official conversation template renders the prompts. Raises ``UserInputError`` naming what is missing."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"--model {folder}: AutoProcessor cannot load its processor ({exc}); the folder needs "
                             "the processor files saved with the model (processor.save_pretrained)") from None
    if getattr(processor, "image_processor", None) is None or getattr(processor, "tokenizer", None) is None:
        raise UserInputError(f"--model {folder}: AutoProcessor gives {type(processor).__name__}, which has no image "
                             "processor and tokenizer; save the model's multimodal processor into the folder")
    if template == CHAT_TEMPLATE and chat_template_of(processor) is None:
        raise UserInputError(f"--model {folder}: the processor ({type(processor).__name__}) has no chat template; add "
                             "chat_template.jinja to the folder, or render the official prompts with --backend-option "
                             "template=vicuna_v1 (an mg_model.conversation template)")
    processor.tokenizer.padding_side = "left"
    return processor


def conversation_template(name: str) -> Any:
    """The official conversation template ``name`` (``UserInputError`` listing the known ones)."""
    from mg_model.conversation import TEMPLATES

    if name not in TEMPLATES:
        raise UserInputError(f"--backend-option template={name}: unknown template; use {CHAT_TEMPLATE} (the model's "
                             f"chat template) or one of {', '.join(sorted(TEMPLATES))}")
    return TEMPLATES[name]


class HFVLMGenerator:
    """``Generator`` over a transformers ``AutoModelForImageTextToText`` model and its processor.

    Build with ``HFVLMGenerator.from_pretrained(path, dtype="auto", device="auto", template="chat")``.
    """

    def __init__(self, model: Any, processor: Any, info: dict[str, Any], template: str = CHAT_TEMPLATE):
        self.model = model
        self.processor = processor
        self.info = info
        self.conversation = None if template == CHAT_TEMPLATE else conversation_template(template)
        self.image_token = str(getattr(processor, "image_token", None) or "<image>")
        probe = self.render_prompt("\x00TEXT\x00", True) + "\x01" + self.render_prompt("\x00TEXT\x00", False)
        self.template_id = hashlib.sha256(probe.encode()).hexdigest()[:16]
        self.info["prompt_template"] = (f"conversation:{template}" if self.conversation is not None
                                        else f"chat_template:{self.template_id}")

    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: str | None = "auto", device: str | None = "auto",
                        device_map: str | None = None, attn: str = "eager",
                        template: str = CHAT_TEMPLATE) -> HFVLMGenerator:
        """Processor first (its checks cost nothing), then the model; no hub access."""
        from transformers import AutoModelForImageTextToText

        from mg_eval.models.mgm import resolve_device, resolve_dtype

        folder = Path(path)
        if template != CHAT_TEMPLATE:
            conversation_template(template)
        processor = load_processor(folder, template)
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        kwargs: dict[str, Any] = {"dtype": _DTYPES[dtype], "attn_implementation": attn}
        if device_map:
            kwargs["device_map"] = device_map
        try:
            model = AutoModelForImageTextToText.from_pretrained(str(folder), **kwargs)
        except (OSError, ValueError) as exc:
            raise UserInputError(f"--model {folder}: AutoModelForImageTextToText cannot load it ({exc})") from None
        if not device_map:
            model = model.to(device)
        model.eval()
        info = {"name": folder.resolve().name, "path": str(folder.resolve()), "weights_hash": weights_hash(folder),
                "encoders": {}, "config": read_config(folder), "dtype": dtype, "device": device,
                "device_map": device_map, "stop_strings": [], "decode": {"attn": attn},
                "model_class": type(model).__name__, "processor_class": type(processor).__name__}
        return cls(model, processor, info, template)

    def render_prompt(self, text: str, has_image: bool) -> str:
        """One user turn (the image first, then the text) through the chat template or the official template."""
        if self.conversation is not None:
            from mg_model.constants import DEFAULT_IMAGE_TOKEN

            prompt = self.conversation.build_prompt(text, num_images=int(has_image))
            return prompt.replace(DEFAULT_IMAGE_TOKEN, self.image_token)
        content = ([{"type": "image"}] if has_image else []) + [{"type": "text", "text": text}]
        return self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                                  tokenize=False)

    def prepare(self, images: list[Image.Image | None], texts: list[str]) -> dict[str, Any]:
        """The processor's batch (CPU): input_ids [B, L] left padded, attention_mask [B, L], and the model's
        own image tensors (e.g. pixel_values [N, 3, H, W] for LLaVA, [patches, C] + image_grid_thw for Qwen2-VL)."""
        prompts = [self.render_prompt(text, image is not None) for text, image in zip(texts, images)]
        present = [image for image in images if image is not None]
        bos = getattr(self.processor.tokenizer, "bos_token", None)
        has_bos = bool(bos) and all(prompt.startswith(bos) for prompt in prompts)  # the template wrote it already
        batch = self.processor(text=prompts, images=present or None, padding=True, return_tensors="pt",
                               add_special_tokens=not has_bos)
        return dict(batch)

    @property
    def input_device(self) -> torch.device:
        """Where input tensors go (the first parameter's device; correct with a device_map too)."""
        return next(self.model.parameters()).device

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        dtype = next(self.model.parameters()).dtype
        moved = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.input_device)
                if value.is_floating_point():
                    value = value.to(dtype)
            moved[key] = value
        return moved

    def generation_config(self, generation: dict[str, Any]) -> Any:
        """The task's settings only (the model's own generation_config.json defaults, e.g. a sampling
        temperature, are not inherited); eos / pad from the model's generation config or its tokenizer."""
        from transformers import GenerationConfig

        tokenizer = self.processor.tokenizer
        own = getattr(self.model, "generation_config", None)
        eos = getattr(own, "eos_token_id", None)
        eos = eos if eos is not None else tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else getattr(own, "pad_token_id", None)
        return GenerationConfig(**hf_generation_kwargs(generation), eos_token_id=eos,
                                pad_token_id=pad if pad is not None else eos)

    @torch.inference_mode()
    def generate(self, batch: dict[str, Any], generation: dict[str, Any]) -> list[str]:
        """One stripped answer per sample (new tokens only; the official template's stop strings cut it)."""
        inputs = self._to_device(batch)
        out_ids = self.model.generate(**inputs, generation_config=self.generation_config(generation))
        texts = self.processor.batch_decode(out_ids[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        stops = list(self.conversation.stop_strings) if self.conversation is not None else []
        return [cut_at_stops(text, stops).strip() for text in texts]

