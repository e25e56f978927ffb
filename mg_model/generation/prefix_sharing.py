"""Shared-prefix prefill: the prompt part common to several rows (BOS + system + role + image + ...) once.

Design (one ``generate`` call, batched decode kept):

1. **Groups.** Rows with the same tokens up to and including their image placeholder and the same image
   key form a group. A group's shared prefix is the longest common prefix of its rows' prompts (for
   MMBench's circular copies it runs through the hint and the question), cut so that every row keeps at
   least one token of its own. A row alone (or a text-only row) is a group of one whose prefix is its
   whole prompt but the last token: with ``num_beams`` = k that prompt is prefilled once instead of k times.
2. **Prefix prefill.** The G group prefixes (spliced, left padded: [G, P]) run through the LLM once;
   each image is encoded once (the representatives' images only, through the feature cache).
3. **Layout.** Every row's sequence is ``[left pad | group prefix (P) | pad | own suffix]``: the group's
   KV rows are gathered for each row (and repeated for beams), the suffixes are left padded to their
   longest (S) and placed after the P prefix columns. The attention mask is 0 on both paddings; the
   position ids come from the mask (cumsum - 1, as HF generate computes them), so every real token has
   the position it has in the plain left-padded layout, and masked keys weigh exactly 0.
4. **Decode.** ``GenerationMixin.generate`` continues from that cache with ``inputs_embeds`` of width
   P + S (only the S suffix columns are fed) and decodes the whole batch as usual.

Logits equal the plain path's up to floating-point reassociation (the prefix is computed at another
batch size); tests/test_prefix_sharing.py checks identical tokens and scores on the tiny model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationMixin

from ..conversation import IMAGE_TOKEN_INDEX
from ..hf_compat import CACHE_ARG


@dataclass
class SharePlan:
    """Which rows share which prefix.

    ``rows``: each row's valid token ids; ``group_of_row`` [B]; ``representatives`` [G] (a row of each
    group); ``prefix_tokens`` [G] (shared prefix length in input tokens, image placeholder counted once).
    """

    rows: list[list[int]]
    group_of_row: list[int]
    representatives: list[int]
    prefix_tokens: list[int]


def _common_prefix(sequences: Sequence[Sequence[Any]]) -> int:
    first = sequences[0]
    length = min(len(seq) for seq in sequences)
    for position in range(length):
        if any(seq[position] != first[position] for seq in sequences[1:]):
            return position
    return length


def plan_shared_prefixes(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                         image_keys: Sequence[str | None]) -> SharePlan | None:
    """Group the rows of a left-padded batch by shared prefix; None when the batch does not fit the scheme.

    Args:
        input_ids / attention_mask: [B, L] (left padded, -200 at the image slot).
        image_keys: one key per row (equal keys = equal preprocessed images); ignored for text-only rows.

    Returns None when a row has more than one image, a prompt of one token, or its image last.
    """
    rows = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids.cpu(), attention_mask.cpu())]
    groups: dict[tuple, list[int]] = {}
    identities = []
    for index, row in enumerate(rows):
        slots = [position for position, token in enumerate(row) if token == IMAGE_TOKEN_INDEX]
        if len(slots) > 1 or len(row) < 2:
            return None
        identity = [("image", image_keys[index]) if token == IMAGE_TOKEN_INDEX else token for token in row]
        identities.append(identity)
        group_key = tuple(identity[: slots[0] + 1]) if slots else ("text", index)
        groups.setdefault(group_key, []).append(index)
    group_of_row = [0] * len(rows)
    representatives, prefix_tokens = [], []
    for group, members in enumerate(groups.values()):
        shared = _common_prefix([identities[m] for m in members])
        shared = min(shared, min(len(rows[m]) for m in members) - 1)
        if IMAGE_TOKEN_INDEX in rows[members[0]] and shared <= rows[members[0]].index(IMAGE_TOKEN_INDEX):
            return None  # the image would fall into a suffix
        for member in members:
            group_of_row[member] = group
        representatives.append(members[0])
        prefix_tokens.append(shared)
    return SharePlan(rows, group_of_row, representatives, prefix_tokens)


def _left_pad(sequences: Sequence[Sequence[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """[n, max_len] ids (pad 0) and mask, left padded."""
    width = max(len(seq) for seq in sequences)
    ids = torch.zeros(len(sequences), width, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long, device=device)
            mask[row, width - len(seq):] = 1
    return ids, mask


def expansion(kwargs: dict[str, Any], generation_config: Any) -> int:
    """How many sequences HF generate makes of each row: num_beams, else num_return_sequences."""
    beams = kwargs.get("num_beams") or getattr(generation_config, "num_beams", 1) or 1
    if beams > 1:
        return int(beams)
    return int(kwargs.get("num_return_sequences") or getattr(generation_config, "num_return_sequences", 1) or 1)


def spliced_length_ok(model: Any, plan: SharePlan) -> bool:
    """Whether every row fits ``tokenizer_model_max_length`` once spliced (else the plain path truncates)."""
    tokens_per_image = model.visual_tokens_per_image()
    longest = max(len(row) + (tokens_per_image - 1) * (IMAGE_TOKEN_INDEX in row) for row in plan.rows)
    return longest <= int(model.config.tokenizer_model_max_length)


def generate_with_shared_prefix(
    model: Any,
    plan: SharePlan,
    images: torch.Tensor | None,
    images_aux: torch.Tensor | None,
    image_keys: Sequence[str | None],
    feature_cache: Any,
    kwargs: dict[str, Any],
) -> torch.LongTensor:
    """Prefill each group prefix once, then generate every row from its group's KV cache (module docstring).

    Args:
        model: the :class:`mg_model.modeling_mgm.MGMForCausalLM`.
        plan: from :func:`plan_shared_prefixes`.
        images / images_aux: one image per row (as ``generate`` takes them).
        kwargs: the prepared ``transformers`` generate kwargs.

    Returns:
        New tokens [B·num_return_sequences, new_len], as ``generate``.
    """
    device = model.get_input_embeddings().weight.device
    reps = plan.representatives
    prefix_ids, prefix_mask = _left_pad([plan.rows[r][:k] for r, k in zip(reps, plan.prefix_tokens)], device)
    rep_index = torch.tensor(reps, device=device)
    rep_images = images[rep_index.to(images.device)] if images is not None else None
    rep_aux = images_aux[rep_index.to(images_aux.device)] if images_aux is not None else None
    spliced = model.embed_multimodal(prefix_ids, prefix_mask, rep_images, rep_aux, padding_side="left",
                                     image_keys=[image_keys[r] for r in reps], feature_cache=feature_cache)
    outputs = model.model(inputs_embeds=spliced["inputs_embeds"], attention_mask=spliced["attention_mask"],
                          position_ids=spliced["position_ids"], use_cache=True)
    cache = getattr(outputs, CACHE_ARG)  # `cache` in transformers 5.24 (`past_key_values` warns), 5.19's old name
    group_index = torch.tensor(plan.group_of_row, device=device)
    suffixes = [row[plan.prefix_tokens[group]:] for row, group in zip(plan.rows, plan.group_of_row)]
    suffix_ids, suffix_mask = _left_pad(suffixes, device)
    suffix_embeds = model.get_input_embeddings()(suffix_ids)
    prefix_width = spliced["inputs_embeds"].shape[1]
    attention_mask = torch.cat([spliced["attention_mask"][group_index].to(suffix_mask.dtype), suffix_mask], dim=1)
    inputs_embeds = torch.cat([suffix_embeds.new_zeros(len(plan.rows), prefix_width, suffix_embeds.shape[-1]),
                               suffix_embeds], dim=1)
    cache.reorder_cache(group_index.repeat_interleave(expansion(kwargs, model.generation_config)))
    return GenerationMixin.generate(model, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                    **{CACHE_ARG: cache}, **kwargs)
