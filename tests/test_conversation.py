"""Conversation templates render the official prompt strings (docs/official_code.md#conversation-templates) and are chosen from the checkpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mg_model.conversation import TEMPLATES, MGMInputError, get_template, image_prefix, select_template

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
LLAMA3_SYSTEM = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language."
)

# docs/official_code.md#conversation-templates, single turn with image, "{Q}" = "What is this?".
SINGLE_TURN_WITH_IMAGE = {
    "vicuna_v1": f"{VICUNA_SYSTEM} USER: <image>\nWhat is this? ASSISTANT:",
    "gemma": "<start_of_turn>user\n<image>\nWhat is this?<end_of_turn>\n<start_of_turn>model\n",
    "mistral_instruct": "[INST] <image>\nWhat is this? [/INST]",
    "chatml_direct": (
        "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\nWhat is this?<|im_end|>"
        "<|im_start|>assistant\n"
    ),
    "llama_3": (
        f"<|start_header_id|>system<|end_header_id|>\n\n{LLAMA3_SYSTEM}<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat is this?<|eot_id|>"
        "<|start_header_id|>system<|end_header_id|>\n\n"
    ),
    "plain": "<image>\nWhat is this?\n",
}

# Two turns, text only: the official get_prompt() separators between answered turns.
MULTI_TURN_TEXT_ONLY = {
    "vicuna_v1": f"{VICUNA_SYSTEM} USER: Q1 ASSISTANT: A1</s>USER: Q2 ASSISTANT:",
    "gemma": (
        "<start_of_turn>user\nQ1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n<eos>"
        "<start_of_turn>user\nQ2<end_of_turn>\n<start_of_turn>model\n"
    ),
    "mistral_instruct": "[INST] Q1 [/INST] A1 </s><s>[INST] Q2 [/INST]",
    "chatml_direct": (
        "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\nQ1<|im_end|><|im_start|>assistant\n"
        "A1<|im_end|><|im_start|>user\nQ2<|im_end|><|im_start|>assistant\n"
    ),
    "llama_3": (
        f"<|start_header_id|>system<|end_header_id|>\n\n{LLAMA3_SYSTEM}<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ1<|eot_id|><|start_header_id|>system<|end_header_id|>\n\n"
        "A1<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nQ2<|eot_id|>"
        "<|start_header_id|>system<|end_header_id|>\n\n"
    ),
    "plain": "Q1\nA1\nQ2\n",
}


@pytest.mark.parametrize("name", sorted(SINGLE_TURN_WITH_IMAGE))
def test_single_turn_with_image_matches_spec(name: str) -> None:
    assert get_template(name).build_prompt("What is this?") == SINGLE_TURN_WITH_IMAGE[name]


@pytest.mark.parametrize("name", sorted(MULTI_TURN_TEXT_ONLY))
def test_multi_turn_text_only(name: str) -> None:
    prompt = get_template(name).build_prompt("Q2", num_images=0, history=[("Q1", "A1")])
    assert prompt == MULTI_TURN_TEXT_ONLY[name]


def test_single_turn_without_image_has_no_placeholder() -> None:
    prompt = get_template("vicuna_v1").build_prompt("Hi", num_images=0)
    assert prompt == f"{VICUNA_SYSTEM} USER: Hi ASSISTANT:"


def test_image_goes_into_first_user_message_only() -> None:
    prompt = get_template("chatml_direct").build_prompt("Q2", history=[("Q1", "A1")])
    assert prompt.count("<image>") == 1
    assert "<|im_start|>user\n<image>\nQ1<|im_end|>" in prompt


def test_multi_image_prefix_follows_cli() -> None:
    assert image_prefix(1) == "<image>\n"
    assert image_prefix(0) == ""
    assert image_prefix(2) == "Image 1:<image>\nImage 2:<image>\n"


def test_question_with_placeholder_is_rejected() -> None:
    with pytest.raises(MGMInputError, match="already contains"):
        get_template("vicuna_v1").build_prompt("<image>\nWhat?")


def test_render_rejects_none_in_the_middle() -> None:
    with pytest.raises(MGMInputError, match="only the last"):
        get_template("gemma").render(["Q1", None, "Q2", None])


def test_unknown_template_lists_known_ones() -> None:
    with pytest.raises(MGMInputError, match="vicuna_v1"):
        get_template("vicuna")


def test_stop_strings_per_template() -> None:
    stops = {name: template.stop_strings for name, template in TEMPLATES.items()}
    assert stops == {
        "vicuna_v1": ("</s>",),
        "gemma": ("<end_of_turn>",),
        "mistral_instruct": ("</s>",),
        "chatml_direct": ("<|im_end|>",),
        "llama_3": ("<|eot_id|>",),
        "plain": ("\n",),
    }


def _tok(bos: str, eos: str) -> SimpleNamespace:
    return SimpleNamespace(bos_token=bos, eos_token=eos)


@pytest.mark.parametrize(
    ("model_type", "tokenizer", "expected"),
    [
        ("mgm", _tok("<s>", "</s>"), "vicuna_v1"),
        ("mgm", _tok("<|begin_of_text|>", "<|end_of_text|>"), "llama_3"),
        ("mgm", _tok("<|startoftext|>", "<|im_end|>"), "chatml_direct"),
        ("mgm_gemma", _tok("<bos>", "<eos>"), "gemma"),
        ("mgm_mixtral", _tok("<s>", "</s>"), "mistral_instruct"),
        ("mgm_mistral", _tok("<s>", "</s>"), "mistral_instruct"),
    ],
)
def test_template_selected_from_checkpoint(model_type: str, tokenizer: SimpleNamespace, expected: str) -> None:
    assert select_template({"model_type": model_type}, tokenizer).name == expected


def test_template_override_wins_and_bad_type_errors() -> None:
    assert select_template({"model_type": "mgm_gemma"}, _tok("<bos>", "<eos>"), "plain").name == "plain"
    with pytest.raises(MGMInputError, match="model_type"):
        select_template({"model_type": "llava"}, _tok("<s>", "</s>"))


def test_llama3_eos_ids_include_eot() -> None:
    from transformers import AutoTokenizer

    from mg_model.processing_mgm import TINY_TOKENIZER_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(TINY_TOKENIZER_DIR))
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert get_template("llama_3").eos_token_ids(tokenizer) == [tokenizer.eos_token_id, eot]
    assert get_template("vicuna_v1").eos_token_ids(tokenizer) == [tokenizer.eos_token_id]


def test_prompts_equal_the_official_get_prompt() -> None:
    """22 prompts rendered by the official MGM conversation.py (HEAD 769820c; scripts/make_template_goldens.py)."""
    import json
    from pathlib import Path

    goldens = Path(__file__).resolve().parent / "data" / "processing_template_goldens.json"
    records = json.loads(goldens.read_text(encoding="utf-8"))["records"]
    assert len(records) == 22 and {record["template"] for record in records} == set(TEMPLATES)
    for record in records:
        history = [tuple(turn) for turn in record["history"]]
        prompt = get_template(record["template"]).build_prompt(
            record["question"], num_images=record["num_images"], history=history
        )
        assert prompt == record["prompt"], record
