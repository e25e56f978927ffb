"""``MGMForConditionalGeneration``: Mini-Gemini as a vLLM model (every released MGM architecture).

* Vision: the modules and the computation of :mod:`mg_model.vision_path` (the one definition the
  transformers model uses too), held by ``self.model`` so their state-dict names are the official ones
  (``model.vision_tower.*``, ``model.vision_tower_aux.*``, ``model.mm_projector.*``, ``model.vlm_uni_*``).
  :meth:`embed_multimodal` runs CLIP + ConvNeXt + patch info mining + projector (+ HD token extension).
* LLM: vLLM's own LLaMA / Gemma / Mixtral / Mistral (``init_vllm_registered_model``) with paged KV cache,
  continuous batching, prefix caching and tensor / pipeline parallelism.
* Weights: the released layout untouched. LLM keys (``model.layers.*``, ``lm_head``, Mixtral's
  ``block_sparse_moe.experts.E.w1``...) go to vLLM's loader as they are; the vision weights come from the sources
  :func:`mg_model.checkpoint.loading.weight_sources` names (CLIP folder < shards < open_clip file, as the official builder).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from vllm.config import VllmConfig
from vllm.model_executor.models.interfaces import MultiModalEmbeddings, SupportsMultiModal, SupportsPP
from vllm.model_executor.models.utils import init_vllm_registered_model, maybe_prefix
from vllm.multimodal import MULTIMODAL_REGISTRY
from vllm.sequence import IntermediateTensors

from mg_model.checkpoint.loading import weight_sources
from mg_model.constants import DEFAULT_IMAGE_TOKEN
from mg_model.errors import CheckpointError
from mg_model.vision_path import VISION_MODULE_NAMES, build_vision_modules, encode_visual_tokens

from .processing import MGMDummyInputsBuilder, MGMMultiModalProcessor, MGMProcessingInfo, resolved_checkpoint

#: vLLM's language-model architecture for each MGM LLM type (MGMConfig.llm_type)
VLLM_LLM_ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "gemma": "GemmaForCausalLM",
    "mixtral": "MixtralForCausalLM",
    "mistral": "MistralForCausalLM",
}
VISION_PREFIXES = tuple(f"model.{name}." for name in VISION_MODULE_NAMES)


@MULTIMODAL_REGISTRY.register_processor(
    MGMMultiModalProcessor, info=MGMProcessingInfo, dummy_inputs=MGMDummyInputsBuilder
)
class MGMForConditionalGeneration(nn.Module, SupportsMultiModal, SupportsPP):
    """Mini-Gemini in vLLM: vision path of ``mg_model`` + vLLM's LLM of the checkpoint's type."""

    @classmethod
    def get_placeholder_str(cls, modality: str, i: int) -> str | None:
        """The official image marker ``<image>`` (chat requests get it where the image part was)."""
        if modality.startswith("image"):
            return DEFAULT_IMAGE_TOKEN
        raise ValueError(f"Mini-Gemini takes images only, not {modality}")

    def __init__(self, *, vllm_config: VllmConfig, prefix: str = "") -> None:
        super().__init__()
        found = resolved_checkpoint(vllm_config.model_config)
        self.checkpoint = found
        self.config = found.config
        llm_type = self.config.llm_type
        if llm_type not in VLLM_LLM_ARCHITECTURES:
            raise CheckpointError(f"{found.checkpoint_dir}: LLM type {llm_type!r} has no vLLM model here; "
                                  f"supported: {sorted(VLLM_LLM_ARCHITECTURES)}")
        llm_config = self.config.llm_config()
        with self._mark_tower_model(vllm_config, "image"):
            self.model = nn.Module()  # holder: official names model.vision_tower.*, model.mm_projector.*, ...
            for name, module in build_vision_modules(self.config, llm_config.hidden_size).items():
                setattr(self.model, name, module)
        with self._mark_language_model(vllm_config):
            self.language_model = init_vllm_registered_model(
                vllm_config=vllm_config, hf_config=llm_config, prefix=maybe_prefix(prefix, "language_model"),
                architectures=[VLLM_LLM_ARCHITECTURES[llm_type]],
            )
        self.make_empty_intermediate_tensors = self.language_model.make_empty_intermediate_tensors

    def embed_multimodal(self, **kwargs: object) -> MultiModalEmbeddings:
        """One [T, H] tensor of visual tokens per image (in prompt order), in the LLM's embedding scale.

        ``images``: [n, 3, s, s] or HD [n, g² + 1, 3, s, s]; ``images_aux``: [n, 3, S, S] (lists of per-image
        tensors are stacked). Gemma multiplies its input embeddings by sqrt(H) inside ``embed_input_ids``,
        which the visual tokens bypass, so they get the same factor here (as the official splice, docs/official_code.md#embedding-splice).
        """
        images, images_aux = kwargs.get("images"), kwargs.get("images_aux")
        if images is None:
            return []
        images, images_aux = _stacked(images), _stacked(images_aux)
        tokens = encode_visual_tokens(self.model, self.config, images, images_aux)
        scale = getattr(self.language_model.model, "normalizer", None)
        if isinstance(scale, torch.Tensor):
            tokens = tokens * scale.to(tokens.dtype)
        return list(tokens)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        positions: torch.Tensor,
        intermediate_tensors: IntermediateTensors | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: object,
    ) -> torch.Tensor | IntermediateTensors:
        """The LLM over the merged embeddings (vLLM has already put the visual tokens in ``inputs_embeds``)."""
        if intermediate_tensors is not None:
            inputs_embeds = None
        return self.language_model.model(input_ids, positions, intermediate_tensors, inputs_embeds=inputs_embeds)

    def compute_logits(self, hidden_states: torch.Tensor) -> torch.Tensor | None:
        """The LM head's logits."""
        return self.language_model.compute_logits(hidden_states)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> set[str]:
        """Load a released checkpoint: LLM keys through vLLM's loader, vision keys from the official sources.

        Returns the names of the parameters loaded; a vision key missing from every source, or of the wrong
        shape, raises :class:`CheckpointError` listing them (nothing is left randomly initialised).
        """
        def llm_weights() -> Iterable[tuple[str, torch.Tensor]]:
            for name, tensor in weights:
                if not name.startswith(VISION_PREFIXES):
                    yield name, tensor

        loaded = {f"language_model.{name}" for name in self.language_model.load_weights(llm_weights())}
        return loaded | self._load_vision_weights()

    def _load_vision_weights(self) -> set[str]:
        merged = {}
        for _, tensors in weight_sources(self.checkpoint):
            merged.update({name: tensor for name, tensor in tensors.items() if name.startswith(VISION_PREFIXES)})
        params = dict(self.model.named_parameters(prefix="model"))
        missing = sorted(name for name in params if name not in merged)
        mis_shaped = sorted(f"{name}: {merged[name].shape} vs {tuple(param.shape)}" for name, param in params.items()
                            if name in merged and tuple(merged[name].shape) != tuple(param.shape))
        if missing or mis_shaped:
            raise CheckpointError(f"{self.checkpoint.checkpoint_dir}: vision weights do not match config.json: "
                                  f"missing {missing[:10]}, mis-shaped {mis_shaped[:10]}")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(merged[name].load().to(param.dtype))
        self.model.eval()  # DropPath off unless hr_drop_path_at_inference (ConvNeXtHREncoder.train)
        return set(params)


def _stacked(value: Any) -> torch.Tensor | None:
    """A batched multimodal field as one tensor (vLLM passes a tensor, or a list when shapes differ)."""
    if value is None or isinstance(value, torch.Tensor):
        return value
    return torch.stack(list(value))
