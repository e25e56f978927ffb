"""The CPU-scale stand-ins for pretrained weights: pretext labels, LR-only CLIP pretraining, text warm start."""

from __future__ import annotations

import random

import numpy as np
import torch

from mg_model.constants import IGNORE_INDEX
from mg_model.train.encoder_pretrain import PretextOptions, cell_labels, pretrain_encoders
from mg_model.train.synthetic import CELL_KINDS, SyntheticSpec, draw_sample, draw_scene
from mg_model.train.text_warmup import CELL_WORDS, WarmupOptions, text_sample, warm_start_llm

SPEC = SyntheticSpec(digits=1, font_px=6, jitter=1)


def test_scene_layout_labels_what_is_drawn_and_keeps_the_dataset_images() -> None:
    for index in range(20):
        image, answer, (row, col), layout = draw_scene(SPEC, random.Random(index))
        same, same_answer, same_cell = draw_sample(SPEC, random.Random(index))
        assert np.array_equal(np.asarray(image), np.asarray(same)) and (answer, (row, col)) == (same_answer, same_cell)
        labels = cell_labels(layout)
        sign = row * SPEC.grid + col
        assert labels[sign] == [CELL_KINDS.index("sign"), 0, int(answer)]
        assert sum(kind == CELL_KINDS.index("sign") for kind, _, _ in labels) == 1
        assert sum(kind in (1, 2) for kind, _, _ in labels) == SPEC.n_shapes
        cell, pixels = SPEC.cell, np.asarray(image)
        for place, (kind, colour, digit) in enumerate(labels):
            top, left = (value * cell for value in divmod(place, SPEC.grid))
            centre, corner = pixels[top + cell // 2, left + cell // 2], pixels[top, left]  # corner: background
            if kind == 0:  # empty: background everywhere
                assert colour == 0 and digit == IGNORE_INDEX and np.array_equal(centre, corner)
            if kind in (1, 2):  # a shape's colour at the centre
                assert colour > 0 and digit == IGNORE_INDEX and not np.array_equal(centre, corner)
    _, _, _, more = draw_scene(SPEC, random.Random(3), extra_signs=3)
    assert sum(cell["kind"] == CELL_KINDS.index("sign") for cell in more) == 4


def test_the_lr_encoder_is_trained_on_lr_views_only(tiny_checkpoint) -> None:
    from mg_model import MGMForCausalLM, MGMProcessor

    model = MGMForCausalLM.from_pretrained(tiny_checkpoint)
    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    seen: dict[str, set] = {"lr": set(), "hr": set()}
    model.model.vision_tower.register_forward_pre_hook(lambda _, args: seen["lr"].add(tuple(args[0].shape[-2:])))
    model.model.vision_tower_aux.register_forward_pre_hook(lambda _, args: seen["hr"].add(tuple(args[0].shape[-2:])))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    report = pretrain_encoders(model, processor.image_processor, SPEC,
                               PretextOptions(n_images=6, n_probe=4, lr_steps=2, hr_steps=2, batch_size=3))
    assert seen == {"lr": {(56, 56)}, "hr": {(128, 128)}}
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all("vision_tower" in k for k in changed)  # only the encoders train
    assert any("vision_tower_aux" in k for k in changed) and any(".vision_tower.vision_tower." in k for k in changed)
    assert len(report["lr_clip"]["losses"]) == 2 and 0 <= report["hr_convnext"]["probe"]["digit"] <= 1
    assert not any(p.requires_grad for p in model.model.vision_tower.parameters())


def test_text_sample_puts_one_cell_word_per_visual_token_and_supervises_the_answer_only(tiny_checkpoint) -> None:
    from mg_model import MGMProcessor

    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    _, number, (row, col), layout = draw_scene(SPEC, random.Random(1))
    sample = text_sample(processor, "vicuna_v1", layout, number, caption=False, question="What is the number on the sign?")
    ids, labels = sample["input_ids"].tolist(), sample["labels"].tolist()
    tokenizer = processor.tokenizer
    words = tokenizer.convert_ids_to_tokens(ids)
    start = next(i for i in range(len(words)) if words[i:i + 16] == [
        number if CELL_KINDS[c["kind"]] == "sign" else CELL_WORDS[CELL_KINDS[c["kind"]]] for c in layout])
    assert words[start + row * SPEC.grid + col] == number
    assert all(label == IGNORE_INDEX for label in labels[:start + 16])
    answer = tokenizer.decode([i for i, label in zip(ids, labels) if label != IGNORE_INDEX], skip_special_tokens=True)
    assert answer.strip() == number


def test_warm_start_trains_only_the_llm(tiny_checkpoint) -> None:
    from mg_model import MGMForCausalLM, MGMProcessor

    model = MGMForCausalLM.from_pretrained(tiny_checkpoint)
    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = warm_start_llm(model, processor, SPEC, WarmupOptions(n_texts=8, n_probe=4, steps=2, batch_size=4))
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and not any(key in k for k in changed for key in ("vision_tower", "mm_projector", "vlm_uni"))
    assert len(report["losses"]) == 2 and set(report["probe"]) == {"answer_before", "answer"}


def test_pretraining_and_warm_start_are_deterministic_and_keep_the_callers_rng(tiny_checkpoint) -> None:
    from mg_model import MGMForCausalLM, MGMProcessor

    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    weights = []
    for caller_seed in (123, 456):  # whatever the caller's RNG holds, the same weights
        model = MGMForCausalLM.from_pretrained(tiny_checkpoint)
        torch.manual_seed(caller_seed)
        caller_state = torch.random.get_rng_state()
        pretrain_encoders(model, processor.image_processor, SPEC,
                          PretextOptions(n_images=6, n_probe=4, lr_steps=2, hr_steps=2, batch_size=3))
        warm_start_llm(model, processor, SPEC, WarmupOptions(n_texts=8, n_probe=4, steps=2, batch_size=4))
        assert torch.equal(torch.random.get_rng_state(), caller_state)
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
