"""Text-only warm start of the tiny LLM: answering digit questions, what a pretrained LLM brings at CPU scale.

Real MGM starts from a pretrained LLM that can already find a fact in its context and repeat it. The tiny
LLM is random, so before any image is seen it is trained on text alone, in the exact layout of the
multimodal samples: the chat template, the question (stage-2 form) or the caption prompt (stage-1 form) and,
at the place of the ``N`` visual tokens, ``N`` *cell words*, one per cell of a synthetic scene: the sign's
cell holds its digit, the other cells a non-digit word for what they hold (:data:`CELL_WORDS`). The answer
is the digit (or the caption holding it), supervised as generation writes it (from the first token after
"ASSISTANT:"). No pixels are involved; the scenes come from their own seed range
(:data:`WARMUP_SEED_OFFSET`), never the train / test images.

Only the LLM trains (embeddings, layers, norm, head); the projector, mining and encoders are untouched.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from mg_model.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX

from .data import collate, render_segments, tokenize_with_labels
from .setup import cosine_schedule
from .synthetic import (
    ANSWER_SUFFIX,
    CAPTION_PROMPT,
    CELL_KINDS,
    QUESTIONS,
    SyntheticSpec,
    caption_for,
    draw_scene,
)

WARMUP_VERSION = 4  # bump when the samples or the loss change (part of the pretrained base's folder hash)
WARMUP_SEED_OFFSET = 30_000_000  # make_split: 0 / 10_000_000; encoder pretext: 20_000_000
CELL_WORDS = {"empty": ".", "circle": "o", "square": "x"}  # token of a non-sign cell; a sign's cell: its digit


@dataclass(frozen=True)
class WarmupOptions:
    """Text warm-start settings (recipe key ``base.warm_start_llm``)."""

    n_texts: int = 4000
    n_probe: int = 400
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    template: str = "vicuna_v1"
    seed: int = 0


def cell_token_ids(tokenizer: Any, layout: list[dict]) -> list[int]:
    """One token id per cell of a :func:`draw_scene` layout (raster order)."""
    words = [cell["digits"] if CELL_KINDS[cell["kind"]] == "sign" else CELL_WORDS[CELL_KINDS[cell["kind"]]]
             for cell in layout]
    ids = tokenizer.convert_tokens_to_ids(words)
    unknown = [word for word, token in zip(words, ids) if token in (None, tokenizer.unk_token_id)]
    if unknown:
        raise ValueError(f"the tokenizer has no single token for the cell word(s) {sorted(set(unknown))}")
    return ids


def text_sample(processor: Any, template: str, layout: list[dict], number: str, caption: bool,
                question: str) -> dict[str, torch.Tensor]:
    """``input_ids`` [L] / ``labels`` [L] of one text-only sample; the cell words stand where ``<image>`` is."""
    prompt = "<image>\n" + (CAPTION_PROMPT if caption else question + ANSWER_SUFFIX)
    answer = caption_for(number) if caption else number
    segments = render_segments(template, [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}],
                               has_image=True)
    ids, _ = tokenize_with_labels(segments, processor.tokenize_prompt, processor.tokenizer.bos_token_id)
    place = ids.index(IMAGE_TOKEN_INDEX)
    cells = cell_token_ids(processor.tokenizer, layout)
    ids = ids[:place] + cells + ids[place + 1:]
    # the answer as generation writes it: every token after the prompt inference is given, including the "▁"
    # that follows "ASSISTANT:" (the official masking counts it as prompt, so no multimodal stage teaches it)
    first_answer = next(i for i, (_, supervised) in enumerate(segments) if supervised)
    prompt = "".join(text for text, _ in segments[:first_answer]).rstrip()
    answer_from = len(processor.tokenize_prompt(prompt)) - 1 + len(cells)
    labels = [IGNORE_INDEX] * answer_from + ids[answer_from:]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "answer_from": answer_from}


def text_samples(processor: Any, spec: SyntheticSpec, count: int, seed: int, template: str) -> list[dict]:
    """``count`` samples over fresh scenes, alternating question and caption forms."""
    samples = []
    for index in range(count):
        rng = random.Random(seed * 100_003 + WARMUP_SEED_OFFSET + index)
        _, number, _, layout = draw_scene(spec, rng)
        samples.append(text_sample(processor, template, layout, number, index % 2 == 1, rng.choice(QUESTIONS)))
    return samples


def _batch(samples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad text samples with :func:`collate` (dummy image tensors, dropped)."""
    padded = collate([{"input_ids": s["input_ids"], "labels": s["labels"], "images": torch.zeros(1),
                       "images_aux": torch.zeros(1)} for s in samples], pad_id,
                     max(len(s["input_ids"]) for s in samples))
    return {key: padded[key] for key in ("input_ids", "labels", "attention_mask")}


@torch.no_grad()
def answer_accuracy(model: Any, samples: list[dict], pad_id: int) -> float:
    """Fraction of samples whose whole answer (every token after the prompt inference is given, the "▁"
    after "ASSISTANT:" included) is the argmax under teacher forcing, i.e. what greedy decoding would write."""
    model.eval()
    correct = 0
    for start in range(0, len(samples), 64):
        chunk = samples[start:start + 64]
        batch = _batch(chunk, pad_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        predicted = logits[:, :-1].argmax(-1)  # [B, L-1]: prediction for position t+1
        for row, sample in enumerate(chunk):
            end = len(sample["input_ids"])
            target = sample["input_ids"][sample["answer_from"]:end]
            correct += bool(torch.equal(predicted[row, sample["answer_from"] - 1:end - 1], target))
    return correct / len(samples)


def warm_start_llm(model: Any, processor: Any, spec: SyntheticSpec,
                   options: WarmupOptions = WarmupOptions()) -> dict[str, Any]:
    """Train ``model``'s LLM in place on text-only digit answering; returns losses and held-out accuracy.

    Deterministic for a given ``options.seed``; the caller's global torch RNG is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        return _warm_start(model, processor, spec, options)


def _warm_start(model: Any, processor: Any, spec: SyntheticSpec, options: WarmupOptions) -> dict[str, Any]:
    started = time.time()
    pad_id = processor.tokenizer.pad_token_id if processor.tokenizer.pad_token_id is not None else 0
    train = text_samples(processor, spec, options.n_texts, options.seed, options.template)
    held_out = text_samples(processor, spec, options.n_probe, options.seed + 1, options.template)
    llm_parameters = [p for name, p in model.named_parameters()
                      if not any(key in name for key in ("vision_tower", "mm_projector", "vlm_uni"))]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in llm_parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(llm_parameters, lr=options.lr, weight_decay=0.0)
    scheduler = cosine_schedule(optimizer, max(1, options.steps // 20), options.steps)
    generator = torch.Generator().manual_seed(options.seed)
    before = answer_accuracy(model, held_out, pad_id)
    model.train()
    losses = []
    for _ in range(options.steps):
        index = torch.randint(0, len(train), (options.batch_size,), generator=generator).tolist()
        batch = _batch([train[i] for i in index], pad_id)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(round(float(loss.detach()), 4))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return {"options": asdict(options), "seconds": round(time.time() - started, 1), "losses": losses,
            "probe": {"answer_before": before, "answer": answer_accuracy(model, held_out, pad_id)}}
