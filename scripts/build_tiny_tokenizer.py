"""Build `mg_model/assets/tiny_tokenizer/`: a small Llama-style tokenizer for tests and the demo.

The tokenizer is a SentencePiece BPE model (byte fallback, so any UTF-8 text encodes) trained offline on
the text written below, wrapped as a transformers `LlamaTokenizer` with the chat-template markers of
every MGM conversation template added as special tokens. Run from the repository root:

    python3 scripts/build_tiny_tokenizer.py [--out mg_model/assets/tiny_tokenizer]

The output is deterministic (single-threaded SentencePiece training on a fixed corpus).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

VOCAB_SIZE = 800

# Markers used by the conversation templates (docs/official_code.md#conversation-templates); they become added special tokens so that
# every template renders to a short, unambiguous id sequence.
TEMPLATE_SPECIAL_TOKENS = [
    "<start_of_turn>",
    "<end_of_turn>",
    "<|im_start|>",
    "<|im_end|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|reserved_special_token_0|>",
]

CORPUS_LINES = [
    "A chat between a curious user and an artificial intelligence assistant.",
    "The assistant gives helpful, detailed, and polite answers to the user's questions.",
    "USER: What is shown in this image? ASSISTANT: The image shows a red bus on a city street.",
    "You are a helpful language and vision assistant.",
    "You are able to understand the visual content that the user provides, and assist the user with a "
    "variety of tasks using natural language.",
    "Answer the questions.",
    "Answer the question using a single word or phrase.",
    "Answer with the option's letter from the given choices directly.",
    "Please answer yes or no.",
    "Reference OCR token: STOP, Main Street, 25, Coca-Cola, EXIT, Open 24 hours",
    "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.",
    "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.",
    "Hint: Please answer the question requiring a floating-point number with one decimal place and provide the "
    "final value, e.g., 1.2, 1.3, 1.4, at the end.",
    "Hint: Please answer the question requiring a Python list as an answer and provide the final list, e.g., "
    "[1, 2, 3], [1.2, 1.3, 1.4], at the end.",
    "Question: What is the value of the largest bar? (Unit: million)",
    "Choices:\n(A) 12\n(B) 15\n(C) 18\n(D) 21",
    "A. cat\nB. dog\nC. bird\nD. fish",
    "What is written on the sign? Read the text in the image.",
    "Is there a person in this picture? Yes, there is a woman holding an umbrella.",
    "How many apples are on the table? There are three apples and two oranges.",
    "What color is the car? The car is blue, and the truck behind it is white.",
    "Describe the image in detail. The photo shows a kitchen with wooden cabinets and a large window.",
    "Which of the following statements is true according to the chart?",
    "Generate an image of a cute cat sitting on a sofa. <GEN>",
    "Sure, here is a prompt: <h>a cute fluffy cat sitting on a red sofa, warm light, high detail</h>",
    "The answer is 42. The total is 3.14 and the ratio is 0.5 percent.",
    "Image 1: a map of the country. Image 2: a table with numbers.",
    "Please think step by step and then give the final answer.",
    "The graph shows the population of the city from 1990 to 2020 in thousands.",
    "In the figure, triangle ABC is a right triangle with angle C equal to 90 degrees. Find the length of AB.",
    "What is the name of the store? What time does the clock show? What brand is the laptop?",
    "Is this artwork created by Vincent van Gogh? Is the scene of this image an airport?",
    "The man is riding a horse on the beach while the sun sets over the ocean.",
    "A group of people are playing football in a green park next to a river.",
    "The bottle on the left contains water, and the glass on the right contains orange juice.",
    "Identify the question that the experiment can best answer.",
    "Which animal's feet are also adapted for walking on snow?",
    "Select the correct answer. Options: yes, no, not sure.",
    "Look at the picture and tell me what the people are doing.",
    "This is a photograph of a mountain lake surrounded by tall pine trees under a clear sky.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "[INST] What is in the picture? [/INST] A small house with a garden. </s>",
    "system user model assistant",
]


def corpus_text() -> str:
    """Return the training text: the corpus lines repeated in a few case variants, one per line."""
    lines: list[str] = []
    for line in CORPUS_LINES:
        lines.extend([line, line.lower(), line.capitalize()])
    return "\n".join(lines) + "\n"


def train_sentencepiece(model_path: Path) -> Path:
    """Train the SentencePiece BPE model into ``model_path`` (bytes written in memory: no temp paths inside)."""
    import sentencepiece as spm

    sentences = [line for line in corpus_text().splitlines() if line]
    model_bytes = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model_bytes,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        normalization_rule_name="identity",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    model_path.write_bytes(model_bytes.getvalue())
    return model_path


def vocab_and_merges(model_path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Read the SentencePiece vocabulary (piece -> id) and derive the BPE merges from the piece scores.

    Uses only the `sentencepiece` processor API (no protobuf), so it works whatever protobuf is installed.
    """
    import sentencepiece as spm
    from transformers.tokenization_utils_base import generate_merges

    processor = spm.SentencePieceProcessor(model_file=str(model_path))
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    scores = {processor.id_to_piece(i): processor.get_score(i) for i in range(processor.get_piece_size())}
    special = {"<unk>", "<s>", "</s>"}
    merges = generate_merges(vocab, scores, skip_tokens=special)
    return vocab, merges


def build(out_dir: Path) -> None:
    """Write tokenizer.model, tokenizer.json, tokenizer_config.json and special_tokens_map.json."""
    from transformers import LlamaTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = train_sentencepiece(Path(tmp) / "tokenizer.model")
        vocab, merges = vocab_and_merges(model_path)
        tokenizer = LlamaTokenizer(
            vocab=vocab, merges=merges, legacy=False, add_prefix_space=True, add_bos_token=True, add_eos_token=False
        )
        tokenizer.add_special_tokens({"additional_special_tokens": TEMPLATE_SPECIAL_TOKENS})
        tokenizer.model_max_length = 2048
        tokenizer.save_pretrained(str(out_dir))
        (out_dir / "tokenizer.model").write_bytes(model_path.read_bytes())
    pin_slow_tokenizer_flags(out_dir / "tokenizer_config.json")


def pin_slow_tokenizer_flags(config_path: Path) -> None:
    """Record `legacy: false` and `add_bos_token: true` as Vicuna-v1.5's tokenizer_config.json does.

    transformers 5 does not write these keys; `MGMProcessor` reads `legacy` to reproduce the slow
    (SentencePiece) tokenizer of transformers 4.36 that the official code used for Vicuna/Yi.
    """
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update({"legacy": False, "add_bos_token": True, "add_eos_token": False})
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mg_model/assets/tiny_tokenizer"))
    args = parser.parse_args()
    build(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
