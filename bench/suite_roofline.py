"""The FLOP/byte roofline of docs/roofline.md#llm-cost-model (tables: docs/roofline.md#suite-roofline), for any MGM config.

Per sample with prompt length T (text + visual tokens) and g generated tokens (EOS included):

* vision + prefill time = (vision FLOPs + 2·P·T + 2·T²·d·L + 2·V·H) / peak FLOP/s
  (P: non-embedding linear parameters of the LLM, d = heads·head_dim, L layers, lm_head on the last
  position only);
* batched decode time (batch B) = (g - 1) · max(((P + V·H)·w/B + T_c·kv)/HBM, (2·(P + V·H) + 4·T_c·d·L)/peak),
  T_c = T + g/2 the mean context, w the weight bytes, kv the KV-cache bytes per token;
* batch-1 decode time = (g - 1) · ((P + V·H)·w + T_c·kv) / HBM.

Device constants (docs/roofline.md#device-constants): H100 790 TFLOP/s bf16 dense (measured) and 3.0 TB/s HBM (measured
device copy); H200 the same compute and 4.8 TB/s (the vendor's HBM figure, so its roofline is optimistic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DeviceSpec:
    """Peak dense bf16/fp16 FLOP/s and HBM bytes/s used by the roofline."""

    name: str
    peak_flops: float
    hbm_bytes_per_s: float
    source: str


DEVICES = {
    "H100": DeviceSpec("H100", 790e12, 3.0e12, "docs/roofline.md#device-constants: 790 TFLOP/s bf16 dense (measured), 3.0 TB/s (measured copy)"),
    "H200": DeviceSpec("H200", 790e12, 4.8e12, "docs/roofline.md#device-constants: H100 compute, 4.8 TB/s HBM (vendor figure)"),
}


def device_spec(device_name: str) -> DeviceSpec:
    """H200 constants when the device name says H200, else H100's (also for CPU dry runs)."""
    return DEVICES["H200"] if "H200" in device_name.upper() else DEVICES["H100"]


@dataclass(frozen=True)
class LLMShape:
    """What the roofline needs from the language model."""

    linear_params: float  # P: attention + MLP weights of all layers (no embeddings, no lm_head)
    lm_head_params: float  # V·H
    layers: int
    attn_width: int  # d = heads · head_dim
    kv_bytes_per_token: float  # 2 · L · kv_heads · head_dim · bytes
    weight_bytes: int  # bytes per parameter (2 for fp16/bf16)

    @classmethod
    def from_llm_config(cls, llm_config: Any, bytes_per_param: int = 2) -> LLMShape:
        """From a transformers LLaMA-style config (``hidden_size``, ``intermediate_size``, heads, layers)."""
        hidden, inter = int(llm_config.hidden_size), int(llm_config.intermediate_size)
        heads = int(llm_config.num_attention_heads)
        kv_heads = int(getattr(llm_config, "num_key_value_heads", None) or heads)
        head_dim = int(getattr(llm_config, "head_dim", None) or hidden // heads)
        layers = int(llm_config.num_hidden_layers)
        experts = int(getattr(llm_config, "num_experts_per_tok", 1) or 1)  # active experts (Mixtral)
        attention = hidden * heads * head_dim * 2 + hidden * kv_heads * head_dim * 2
        per_layer = attention + 3 * hidden * inter * experts
        return cls(float(layers * per_layer), float(llm_config.vocab_size * hidden), layers, heads * head_dim,
                   float(2 * layers * kv_heads * head_dim * bytes_per_param), bytes_per_param)


@dataclass(frozen=True)
class SampleCost:
    """Roofline seconds of one sample."""

    vision_prefill_s: float
    decode_batched_s: float
    decode_batch1_s: float

    @property
    def batched_s(self) -> float:
        """Vision + prefill + batched decode."""
        return self.vision_prefill_s + self.decode_batched_s

    @property
    def batch1_s(self) -> float:
        """Vision + prefill + batch-1 decode."""
        return self.vision_prefill_s + self.decode_batch1_s


def sample_cost(llm: LLMShape, device: DeviceSpec, vision_flops: float, prompt_tokens: int, gen_tokens: int,
                batch: int) -> SampleCost:
    """Roofline seconds of one sample: ``prompt_tokens`` T (visual included), ``gen_tokens`` g (EOS included)."""
    t = float(prompt_tokens)
    prefill = 2 * llm.linear_params * t + 2 * t * t * llm.attn_width * llm.layers + 2 * llm.lm_head_params
    vision_prefill = (vision_flops + prefill) / device.peak_flops
    steps = max(0, gen_tokens - 1)
    context = t + gen_tokens / 2
    weights = (llm.linear_params + llm.lm_head_params) * llm.weight_bytes
    kv = context * llm.kv_bytes_per_token
    step_flops = 2 * (llm.linear_params + llm.lm_head_params) + 4 * context * llm.attn_width * llm.layers
    batched = steps * max((weights / max(1, batch) + kv) / device.hbm_bytes_per_s, step_flops / device.peak_flops)
    batch1 = steps * (weights + kv) / device.hbm_bytes_per_s
    return SampleCost(vision_prefill, batched, batch1)


def benchmark_minutes(llm: LLMShape, device: DeviceSpec, vision_flops: float, prompt_tokens: list[int],
                      gen_tokens: list[int], batch: int, n_full: int) -> tuple[float, float]:
    """(batched, batch-1) roofline minutes of the full benchmark (``n_full`` samples) from a sample of
    (prompt, generated) lengths: the mean per-sample cost times ``n_full``."""
    costs = [sample_cost(llm, device, vision_flops, t, g, batch) for t, g in zip(prompt_tokens, gen_tokens)]
    scale = n_full / max(1, len(costs)) / 60.0
    return sum(c.batched_s for c in costs) * scale, sum(c.batch1_s for c in costs) * scale
