"""Training data: label masking per template (official preprocess_* rules), records, length grouping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mg_model.conversation import get_template
from mg_model.train.data import (
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
    TEMPLATE_NAMES,
    ResumableBatchSampler,
    TrainingInputError,
    hf_prompt_encoder,
    length_grouped_order,
    load_records,
    modality_lengths,
    render_segments,
    tokenize_with_labels,
)

TOKENIZER_DIR = Path(__file__).resolve().parents[1] / "mg_model" / "assets" / "tiny_tokenizer"
TWO_TURNS = [
    {"from": "human", "value": "What is in the picture?\n<image>"},
    {"from": "gpt", "value": "A red bus."},
    {"from": "human", "value": "How many wheels?"},
    {"from": "gpt", "value": "Six wheels."},
]
# What the official preprocessors supervise after each answer (docs/official_code.md#training-stages).
TERMINATOR = {
    "vicuna_v1": "</s>", "gemma": "<end_of_turn>\n<eos>", "mistral_instruct": " </s>",
    "chatml_direct": "<|im_end|>", "llama_3": "<|eot_id|>",
}


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))


def _supervised_runs(ids: list[int], labels: list[int], tokenizer) -> list[str]:
    runs, current = [], []
    for token, label in zip(ids, labels):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(run) for run in runs]


@pytest.mark.parametrize("template", sorted(TERMINATOR))
def test_render_matches_official_conversation_prompt(template: str) -> None:
    """Joined segments are byte-identical to the official Conversation.get_prompt() of the same turns."""
    segments = render_segments(template, TWO_TURNS, has_image=True)
    official = get_template(template).render(["<image>\nWhat is in the picture?", "A red bus.", "How many wheels?",
                                              "Six wheels."])
    assert "".join(text for text, _ in segments) == official


@pytest.mark.parametrize("template", sorted(TERMINATOR))
def test_only_answers_and_terminators_are_supervised(template: str, tokenizer) -> None:
    ids, labels = tokenize_with_labels(render_segments(template, TWO_TURNS, True), hf_prompt_encoder(tokenizer),
                                       tokenizer.bos_token_id)
    assert ids.count(IMAGE_TOKEN_INDEX) == 1 and labels[ids.index(IMAGE_TOKEN_INDEX)] == IGNORE_INDEX
    assert labels[0] == IGNORE_INDEX  # BOS
    lead = " " if template == "mistral_instruct" else ""
    expected = [(lead + answer + TERMINATOR[template]).strip(" ") for answer in ("A red bus.", "Six wheels.")]
    assert [run.strip(" ") for run in _supervised_runs(ids, labels, tokenizer)] == expected


def test_plain_template_supervises_caption_and_newline_only(tokenizer) -> None:
    """preprocess_plain: the human turn becomes just <image>; caption + '\\n' supervised, no EOS."""
    turns = [{"from": "human", "value": "Describe.\n<image>"}, {"from": "gpt", "value": "A cat on a mat."}]
    segments = render_segments("plain", turns, True)
    assert "".join(t for t, _ in segments) == "<image>A cat on a mat.\n"
    ids, labels = tokenize_with_labels(segments, hf_prompt_encoder(tokenizer), tokenizer.bos_token_id)
    assert ids[:2] == [tokenizer.bos_token_id, IMAGE_TOKEN_INDEX]
    assert _supervised_runs(ids, labels, tokenizer) == ["A cat on a mat.\n"]


def _official_v1_labels(conversation: str, tokenizer, encode) -> list[int]:
    """The official preprocess_v1 length arithmetic (LLaVA/MGM train.py), re-stated as an oracle.

    Rounds are split on ``</s>``; each round's instruction (up to ``" ASSISTANT: "``) is masked using token
    counts with the ``-2`` offset, and ``-1`` on later rounds for non-legacy tokenizers (legacy false here).
    """
    ids = encode(conversation)
    target = list(ids)
    cur = 1
    target[0] = IGNORE_INDEX
    sep = " ASSISTANT: "
    for index, rou in enumerate(conversation.split("</s>")):
        if rou == "":
            break
        parts = rou.split(sep)
        assert len(parts) == 2
        round_len = len(encode(rou))
        instruction_len = len(encode(parts[0] + sep)) - 2
        if index != 0:
            round_len -= 1
            instruction_len -= 1
        target[cur:cur + instruction_len] = [IGNORE_INDEX] * instruction_len
        cur += round_len
    target[cur:] = [IGNORE_INDEX] * (len(target) - cur)
    assert cur == len(ids), "oracle tokenization mismatch"
    return target


def test_vicuna_masks_equal_official_preprocess_v1_on_slow_tokenizer(tiny_checkpoint) -> None:
    """Same labels as the official arithmetic with the checkpoint's slow (SentencePiece) tokenisation."""
    from mg_model.processing_mgm import MGMProcessor

    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    encode = processor.tokenize_prompt
    for turns in (TWO_TURNS, TWO_TURNS[:2]):
        segments = render_segments("vicuna_v1", turns, True)
        ids, labels = tokenize_with_labels(segments, encode, processor.tokenizer.bos_token_id)
        expected = _official_v1_labels("".join(t for t, _ in segments), processor.tokenizer, encode)
        assert [i if i != IMAGE_TOKEN_INDEX else IGNORE_INDEX for i in labels] == \
            [i if i != IMAGE_TOKEN_INDEX else IGNORE_INDEX for i in expected]


def test_text_only_sample_and_image_placement(tokenizer) -> None:
    text_only = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}]
    ids, labels = tokenize_with_labels(render_segments("vicuna_v1", text_only, False), hf_prompt_encoder(tokenizer),
                                       tokenizer.bos_token_id)
    assert IMAGE_TOKEN_INDEX not in ids
    assert _supervised_runs(ids, labels, tokenizer) == ["Hello.</s>"]
    # <image> anywhere in the first turn moves to the front followed by a newline (preprocess_multimodal).
    first = render_segments("vicuna_v1", TWO_TURNS, True)[0][0]
    assert "USER: <image>\nWhat is in the picture? ASSISTANT: " in first
    with pytest.raises(TrainingInputError, match="no 'image' field"):
        render_segments("vicuna_v1", TWO_TURNS, has_image=False)
    with pytest.raises(TrainingInputError, match="alternate"):
        render_segments("vicuna_v1", [TWO_TURNS[0], TWO_TURNS[2]], True)
    assert set(TERMINATOR) | {"plain"} == set(TEMPLATE_NAMES)


def test_load_records_names_sample_and_field(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    good = [{"id": "x", "image": "a.jpg", "conversations": TWO_TURNS[:2]},
            {"id": "t", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}]
    (tmp_path / "d.json").write_text(json.dumps(good))
    assert len(load_records(tmp_path / "d.json", tmp_path)) == 2
    bad = good + [{"id": "y", "image": "missing.jpg", "conversations": TWO_TURNS[:2]}]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(TrainingInputError, match=r"sample 2 \(id 'y'\): image 'missing.jpg' not found"):
        load_records(tmp_path / "bad.json", tmp_path)
    (tmp_path / "bad2.json").write_text(json.dumps([{"id": "z", "conversations": "oops"}]))
    with pytest.raises(TrainingInputError, match="sample 0 .*'conversations'"):
        load_records(tmp_path / "bad2.json", tmp_path)


def test_length_grouped_order_groups_modalities_and_is_seeded() -> None:
    lengths = [10, 12, -5, 300, -7, 40, 41, -30, 2, 8, -9, 70, 33, -4, 5, 6]
    order = length_grouped_order(lengths, batch_size=2, world_size=2, seed=3)
    assert sorted(order) == list(range(len(lengths)))
    assert order == length_grouped_order(lengths, batch_size=2, world_size=2, seed=3)
    assert order != length_grouped_order(lengths, batch_size=2, world_size=2, seed=4)
    megabatches = [order[i:i + 4] for i in range(0, len(order) - 4, 4)]  # all but the mixed leftover
    for block in megabatches:
        signs = {lengths[i] > 0 for i in block}
        assert len(signs) == 1, "image and text-only samples share a megabatch"
    assert modality_lengths([{"image": "a", "conversations": [{"value": "a b c"}]},
                             {"conversations": [{"value": "a b"}]}]) == [3, -2]


def test_batch_sampler_resumes_at_the_same_batch() -> None:
    lengths = list(range(1, 41))
    sampler = ResumableBatchSampler(lengths, batch_size=3, world_size=2, rank=1, seed=0)
    stream = iter(sampler)
    first = [next(stream) for _ in range(9)]  # crosses an epoch boundary (6 steps per epoch)
    state = sampler.state_dict()
    rest = [next(stream) for _ in range(4)]
    resumed = ResumableBatchSampler(lengths, batch_size=3, world_size=2, rank=1, seed=0)
    resumed.load_state_dict(state)
    assert [next(iter(resumed)) for _ in range(1)] == rest[:1]
    other_rank = iter(ResumableBatchSampler(lengths, batch_size=3, world_size=2, rank=0, seed=0))
    assert not set(next(other_rank)) & set(first[0])
