"""MMMU-Pro prompts and per-sample records (scoring: ``scorer.py``, the official ``mmmu-pro/evaluate.py``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from PIL import Image

from mg_eval.tasks.loaders import open_image

from . import scorer as mmmu_pro

_IMAGE_TAG = re.compile(r"<image\s+(\d+)>")


def _standard_text(doc: Mapping) -> str:
    options = mmmu_pro.parse_options(doc["options"])
    lines = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(options))
    return f"{doc['question']}\n{lines}\n"


def doc_to_text(doc: Mapping, prompt: Mapping) -> str:
    """Standard: ``mgm`` = ``question\\nA. o1\\n...\\n<post_prompt>`` with every ``<image k>`` replaced by
    ``[image]`` (official ``infer``); ``lmms`` = ``question\\nA. o1\\n...\\n\\n<post_prompt>`` (tags kept).
    Vision: the post prompt alone (both protocols, each its own text).
    """
    if prompt["setting"] == "vision":
        return prompt["post_prompt"]
    text = _standard_text(doc)
    if prompt["style"] == "mgm":
        return _IMAGE_TAG.sub("[image]", text + prompt["post_prompt"])
    return text + "\n" + prompt["post_prompt"]


def doc_to_visual(doc: Mapping, prompt: Mapping) -> list[Image.Image]:
    """Vision: the screenshot. Standard: ``mgm`` = one image per ``<image k>`` occurrence in question +
    options, in order (repeats kept, official ``origin_mmmu_doc_to_visual``); ``lmms`` = each distinct tag once,
    sorted by name (lmms-eval ``mmmu_pro_doc_to_visual``).
    """
    if prompt["setting"] == "vision":
        return [open_image(doc["image"])]
    tags = _IMAGE_TAG.findall(_standard_text(doc))
    if prompt["style"] == "lmms":
        tags = sorted(set(tags), key=lambda k: f"image_{k}")
    return [open_image(doc[f"image_{k}"]) for k in tags]


def process_results(doc: Mapping, response: str) -> dict[str, Any]:
    """Per-sample record from :func:`scorer.process_result`."""
    return mmmu_pro.process_result(doc["doc_id"], doc["subject"], doc["options"], doc["answer"], response)
