"""Constants shared by the model, the processor, training and the harness (each defined only here).

``mg_eval`` imports them from here too (``from mg_model.constants import IMAGE_TOKEN_INDEX``); this module
imports nothing but :mod:`pathlib`.
"""

from __future__ import annotations

from pathlib import Path

# Token id of the image placeholder in ``input_ids`` (docs/official_code.md#image-placeholder-id); the model splices the visual tokens there.
IMAGE_TOKEN_INDEX = -200
# Label value ignored by the loss (image positions, masked prompt tokens, padding).
IGNORE_INDEX = -100
# The placeholder string in a rendered prompt; the processor turns each one into IMAGE_TOKEN_INDEX.
DEFAULT_IMAGE_TOKEN = "<image>"

# OpenAI CLIP normalisation (the released CLIP-L/336 preprocessor_config.json), RGB order.
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# model_type of an MGM checkpoint -> model_type of the language model it is composed with.
LLM_TYPE_OF_MGM_TYPE = {"mgm": "llama", "mgm_gemma": "gemma", "mgm_mixtral": "mixtral", "mgm_mistral": "mistral"}

# The small SentencePiece tokenizer shipped with the package (tests, tiny checkpoints, the demo).
TINY_TOKENIZER_DIR = Path(__file__).resolve().parent / "assets" / "tiny_tokenizer"
