"""Greedy decoding with continuous batching: a finished row is refilled with the next sample at once.

Static batching decodes every batch until its longest row ends; on long-tailed answer lengths
(MathVista: up to 1,024 new tokens, median ~40) most rows idle. :class:`ContinuousDecoder` keeps up to
``batch_size`` rows decoding: after each step the finished rows leave, and the next requests (in their
given order, so the schedule is a function of the request order and the batch size only) are prefilled
together and join the running batch.

transformers' own continuous batching (``generate_batch`` / paged cache) takes token ids only, not the
spliced ``inputs_embeds`` of MGM, so this is a small scheduler over transformers' ``DynamicCache``:

* the cache holds one row per active request, left padded: row r's valid keys are the last
  ``length_r`` columns, ``attention_mask`` [B, T] marks them; every step appends one column to all rows
  (as ``generate`` does);
* joining rows are prefilled alone (``MGMForCausalLM.embed_multimodal``, left padding) and their KV is
  left padded to the running length (or the running rows to theirs) before the rows are concatenated;
* leaving rows are dropped and the leading columns that no row attends to any more are cut off.

Position ids follow each row's own valid length, masked columns get zero attention weight, so in exact
arithmetic every row's tokens equal those of ``generate`` on that sample (tested on the tiny model); in
floating point, as with any change of batch composition, a rare near-tie may flip.
Only full-attention caches (``DynamicLayer``) are supported; :func:`supports_continuous` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from ..hf_compat import CACHE_ARG


@dataclass
class Request:
    """One sample: ``inputs`` = input_ids [1, L] (-200 at the image), attention_mask [1, L], images [1, ...],
    images_aux [1, 3, S, S] (tensors on the model's device); ``state`` is passed to the row processor."""

    key: Any
    inputs: dict[str, torch.Tensor]
    max_new_tokens: int
    state: Any = None


@dataclass
class _Row:
    request: Request
    tokens: list[int] = field(default_factory=list)


#: row_processor(states, steps [B], scores [B, V]) -> scores [B, V]; steps = tokens generated so far per row
RowProcessor = Callable[[list[Any], torch.Tensor, torch.Tensor], torch.Tensor]
#: stop(tokens of one row) -> True when the row must stop (e.g. a stop string appeared)
StopCheck = Callable[[list[int]], bool]


def supports_continuous(model: Any) -> bool:
    """True when the language model's cache is full attention only (no sliding window layers)."""
    cache = DynamicCache(config=model.model.config)
    return all(type(layer) is DynamicLayer for layer in cache.layers)


class ContinuousDecoder:
    """Greedy continuous-batching decoder over ``MGMForCausalLM``.

    Args:
        model: ``MGMForCausalLM`` in eval mode.
        batch_size: rows decoded together.
        eos_token_ids: ids that end a row (the token itself is kept, as ``generate`` returns it).
        stop: optional per-row stop check (stop strings); the row keeps the tokens up to then.
        row_processor: optional logits processor over the active rows (see ``RowProcessor``).
    """

    def __init__(self, model: Any, batch_size: int, eos_token_ids: Iterable[int], stop: StopCheck | None = None,
                 row_processor: RowProcessor | None = None):
        self.model, self.batch_size = model, max(1, int(batch_size))
        self.eos = {int(token) for token in eos_token_ids}
        self.stop, self.row_processor = stop, row_processor
        self.rows: list[_Row] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None  # [B, T] long
        self.steps = 0  # forward passes (prefills + decode steps), for benchmarks

    @torch.inference_mode()
    def run(self, requests: Iterable[Request]) -> Iterator[tuple[Any, list[int]]]:
        """Yield ``(key, new token ids)`` per request as rows finish (not in request order)."""
        pending = iter(requests)
        exhausted = False
        while True:
            if not exhausted and len(self.rows) < self.batch_size:
                joining = []
                for request in pending:
                    joining.append(request)
                    if len(self.rows) + len(joining) == self.batch_size:
                        break
                else:
                    exhausted = True
                if joining:
                    yield from self._admit(joining)
            if not self.rows:
                return
            yield from self._step()

    def _admit(self, requests: list[Request]) -> Iterator[tuple[Any, list[int]]]:
        """Prefill ``requests`` together, take their first tokens, join them to the running rows."""
        ids, mask = _left_pad([r.inputs["input_ids"][0] for r in requests], [r.inputs["attention_mask"][0] for r in requests])
        images = torch.cat([r.inputs["images"] for r in requests]) if "images" in requests[0].inputs else None
        images_aux = torch.cat([r.inputs["images_aux"] for r in requests]) if "images_aux" in requests[0].inputs else None
        spliced = self.model.embed_multimodal(ids, mask, images, images_aux, padding_side="left")
        cache = DynamicCache(config=self.model.model.config)
        hidden = self.model.model(inputs_embeds=spliced["inputs_embeds"], attention_mask=spliced["attention_mask"],
                                  position_ids=spliced["position_ids"], use_cache=True, **{CACHE_ARG: cache})
        self.steps += 1
        rows = [_Row(request) for request in requests]
        first = self._pick(rows, self.model.lm_head(hidden.last_hidden_state[:, -1]).float())
        self._merge(rows, cache, spliced["attention_mask"].long())
        yield from self._record(first)

    def _step(self) -> Iterator[tuple[Any, list[int]]]:
        """One decode step for every active row."""
        last = torch.tensor([[row.tokens[-1]] for row in self.rows], device=self.mask.device)
        positions = self.mask.sum(dim=1, keepdim=True)
        self.mask = torch.cat([self.mask, torch.ones_like(last)], dim=1)
        hidden = self.model.model(input_ids=last, attention_mask=self.mask, position_ids=positions,
                                  use_cache=True, **{CACHE_ARG: self.cache})
        self.steps += 1
        yield from self._record(self._pick(self.rows, self.model.lm_head(hidden.last_hidden_state[:, -1]).float()))

    def _pick(self, rows: list[_Row], scores: torch.Tensor) -> list[int]:
        """Greedy tokens [B] of ``rows`` from fp32 scores [B, V] (after the row processor)."""
        if self.row_processor is not None:
            steps = torch.tensor([len(row.tokens) for row in rows])
            scores = self.row_processor([row.request.state for row in rows], steps, scores)
        tokens = scores.argmax(dim=-1).tolist()
        for row, token in zip(rows, tokens):
            row.tokens.append(int(token))
        return tokens

    def _record(self, _tokens: list[int]) -> Iterator[tuple[Any, list[int]]]:
        """Retire finished rows (EOS, stop check, max_new_tokens) and yield them."""
        keep = []
        for index, row in enumerate(self.rows):
            done = (row.tokens[-1] in self.eos or len(row.tokens) >= row.request.max_new_tokens
                    or (self.stop is not None and self.stop(row.tokens)))
            if done:
                yield row.request.key, row.tokens
            else:
                keep.append(index)
        if len(keep) < len(self.rows):
            self._select(keep)

    def _select(self, keep: list[int]) -> None:
        """Keep rows ``keep`` and cut the leading columns nobody attends to."""
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache, self.mask = None, None
            return
        index = torch.tensor(keep, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        lead = int(mask.any(dim=0).long().argmax())
        self.mask = mask[:, lead:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, lead:]
            layer.values = layer.values.index_select(0, index)[:, :, lead:]

    def _merge(self, rows: list[_Row], cache: DynamicCache, mask: torch.Tensor) -> None:
        """Append prefilled ``rows`` (their ``cache`` and ``mask`` [k, T']) to the running batch."""
        if self.cache is None:
            self.rows, self.cache, self.mask = rows, cache, mask
            return
        width = max(self.mask.shape[1], mask.shape[1])
        self.mask = torch.cat([_pad_left(self.mask, width), _pad_left(mask, width)])
        for old, new in zip(self.cache.layers, cache.layers):
            old.keys = torch.cat([_pad_left(old.keys, width, dim=2), _pad_left(new.keys, width, dim=2)])
            old.values = torch.cat([_pad_left(old.values, width, dim=2), _pad_left(new.values, width, dim=2)])
        self.rows = self.rows + rows


def _pad_left(tensor: torch.Tensor, width: int, dim: int = 1) -> torch.Tensor:
    """Zero-pad ``tensor`` on the left of ``dim`` to ``width``."""
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _left_pad(ids: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of input ids [L_i] (valid where mask) -> left-padded ids [k, L] and mask [k, L]."""
    valid = [row[mask.bool()] for row, mask in zip(ids, masks)]
    length = max(len(row) for row in valid)
    out_ids = valid[0].new_zeros(len(valid), length)
    out_mask = valid[0].new_zeros(len(valid), length)
    for index, row in enumerate(valid):
        out_ids[index, length - len(row):] = row
        out_mask[index, length - len(row):] = 1
    return out_ids, out_mask
