"""Batch-independent sampling for ``MGMForCausalLM.generate(sample_seeds=...)``: a sample's draws depend only
on its own seed, never on the other rows of the batch or on the device."""

from __future__ import annotations

from typing import Any

import torch
from transformers.generation.logits_process import (
    LogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)


class PerSampleSampler(LogitsProcessor):
    """Batch-independent sampling: temperature, top-k, top-p (as transformers), then Gumbel noise per row.

    Row i's noise comes from a CPU generator seeded with ``seeds[i]``; greedy decoding over
    ``log_softmax(warped) + Gumbel`` draws exactly from the warped distribution (Gumbel-max), and a
    sample's draws do not depend on the other rows of the batch or on the device.
    """

    def __init__(self, seeds: list[int], temperature: float, top_k: int, top_p: float) -> None:
        self.generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        self.warpers: list[LogitsProcessor] = []
        if temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(temperature))
        if top_k:
            self.warpers.append(TopKLogitsWarper(top_k=top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p=top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """scores [B, V] -> Gumbel-perturbed log-probabilities [B, V] (argmax = the sampled token)."""
        scores = scores.float()
        for warper in self.warpers:
            scores = warper(input_ids, scores)
        vocab = scores.shape[-1]
        uniform = torch.stack([torch.rand(vocab, generator=generator) for generator in self.generators])
        uniform = uniform.clamp(min=torch.finfo(torch.float32).tiny).to(scores.device)
        return scores.log_softmax(dim=-1) - torch.log(-torch.log(uniform))


def first_set(*values: Any) -> Any:
    return next(value for value in values if value is not None)
