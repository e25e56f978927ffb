"""Write tests/data/processing_slow_tokenizer_goldens.json with transformers 4.36.2's slow LlamaTokenizer.

The official MGM code tokenises Vicuna/Yi prompts with transformers 4.36's SentencePiece ``LlamaTokenizer``
(gone from transformers 5). This script records the ids that class gives for the tiny tokenizer's
``tokenizer.model`` (both ``legacy`` values) on every conversation template and a few awkward texts, using
the official chunk-wise ``<image>`` rule; ``tests/test_processing.py`` checks ``MGMProcessor`` against them.

Run with transformers 4.36.2 first on the path (not the project's transformers 5), e.g.:

    pip install --target /tmp/tf436 --no-deps transformers==4.36.2 tokenizers==0.15.0 huggingface_hub==0.20.3
    PYTHONPATH=/tmp/tf436 python3 scripts/make_slow_tokenizer_goldens.py
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOKENIZER_DIR = REPO / "mg_model" / "assets" / "tiny_tokenizer"
OUT = REPO / "tests" / "data" / "processing_slow_tokenizer_goldens.json"
QUESTIONS = [
    "What is this?",
    " leading space and  double spaces",
    "Ünïcode ☃ 12345\n\nAnswer with the option's letter from the given choices directly.",
    "Draw a cat. <GEN>",
]


def load_mg_model_module(name: str):
    """``mg_model/<name>.py`` without running ``mg_model/__init__`` (that would need transformers 5).

    The folder is mounted as a bare package ``mgm_standalone``, so the module's relative imports of
    ``constants`` / ``errors`` (which import nothing) resolve; nothing else of the package is loaded.
    """
    if "mgm_standalone" not in sys.modules:
        package = types.ModuleType("mgm_standalone")
        package.__path__ = [str(REPO / "mg_model")]
        sys.modules["mgm_standalone"] = package
    return importlib.import_module(f"mgm_standalone.{name}")


def official_image_token_ids(prompt: str, tokenizer) -> list[int]:
    """The official chunk-wise rule: one BOS kept, first token of every chunk dropped, chunks joined by -200."""
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]
    offset = 1 if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id else 0
    ids = [chunks[0][0]] if offset else []
    for index, chunk in enumerate(chunks):
        if index:
            ids.append(load_mg_model_module("constants").IMAGE_TOKEN_INDEX)
        ids.extend(chunk[offset:])
    return ids


def main() -> None:
    """Record the goldens."""
    import transformers
    from transformers import LlamaTokenizer

    if not transformers.__version__.startswith("4.36"):
        raise SystemExit(f"needs transformers 4.36.x on the path, found {transformers.__version__}")
    settings = json.loads((TOKENIZER_DIR / "tokenizer_config.json").read_text(encoding="utf-8"))
    conversation = load_mg_model_module("conversation")
    records = []
    for legacy in (True, False):
        tokenizer = LlamaTokenizer(
            str(TOKENIZER_DIR / "tokenizer.model"), legacy=legacy,
            additional_special_tokens=settings["extra_special_tokens"],
        )
        for name, template in sorted(conversation.TEMPLATES.items()):
            for question in QUESTIONS:
                prompt = template.build_prompt(question, history=[("Hi there", "Hello! How can I help?")])
                records.append({"legacy": legacy, "template": name, "prompt": prompt,
                                "ids": official_image_token_ids(prompt, tokenizer)})
    payload = {"transformers": transformers.__version__, "tokenizer": "mg_model/assets/tiny_tokenizer",
               "records": records}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()
