"""Our own calls into transformers trigger no deprecation warning (e.g. the ``past_key_values`` -> ``cache``
rename): generate (greedy and beams) and forward on the tiny checkpoint, with every warning recorded."""

from __future__ import annotations

import logging
import warnings

import torch
from PIL import Image

from mg_model import MGMForCausalLM, MGMProcessor


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_generate_and_forward_warn_nothing(tiny_checkpoint):
    model = MGMForCausalLM.from_pretrained(tiny_checkpoint, torch_dtype=torch.float32)
    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    batch = processor(images=[Image.new("RGB", (40, 30), "red"), None], texts=["What is this?", "Say hi."])
    collect = _Collect()
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(collect)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            greedy = model.generate(**batch, max_new_tokens=3, do_sample=False, num_beams=1)
            model.generate(**batch, max_new_tokens=3, do_sample=False, num_beams=2)
            with torch.no_grad():
                model(**batch, use_cache=True)
    finally:
        hf_logger.removeHandler(collect)
    assert greedy.shape[0] == 2
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert deprecations == []
    assert not [m for m in collect.messages if "deprecated" in m], collect.messages
