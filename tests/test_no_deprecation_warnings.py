"""Our own calls into transformers trigger no deprecation warning (e.g. the ``past_key_values`` -> ``cache``
rename): generate (greedy, beams, shared-prefix prefill) and forward on the tiny checkpoint, and a whole
``mg-eval run`` (the engine path `make demo` takes: feature cache, shared prefixes), with every warning recorded.

transformers logs most deprecations through ``logger.warning_once`` (an ``lru_cache``: a message logged once
in this process is never logged again), so the cache is cleared before each check; else an earlier test
that triggered the warning would hide it here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from transformers.utils import logging as hf_logging

from mg_model import MGMForCausalLM, MGMProcessor


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _deprecations() -> Iterator[list[str]]:
    """Every deprecation (``warnings`` and transformers' log, ``warning_once`` included) raised inside."""
    found: list[str] = []
    collect = _Collect()
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(collect)
    hf_logging.warning_once.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
    finally:
        hf_logger.removeHandler(collect)
        found += [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
        found += [message for message in collect.messages if "deprecated" in message]


def test_generate_and_forward_warn_nothing(tiny_checkpoint: Path) -> None:
    model = MGMForCausalLM.from_pretrained(tiny_checkpoint, torch_dtype=torch.float32)
    processor = MGMProcessor.from_pretrained(tiny_checkpoint)
    batch = processor(images=[Image.new("RGB", (40, 30), "red"), None], texts=["What is this?", "Say hi."])
    red = Image.new("RGB", (40, 30), "red")
    shared = processor(images=[red, red], texts=["What is this?", "What colour is this?"])
    with _deprecations() as found:
        greedy = model.generate(**batch, max_new_tokens=3, do_sample=False, num_beams=1)
        model.generate(**batch, max_new_tokens=3, do_sample=False, num_beams=2)
        model.generate(**shared, max_new_tokens=3, do_sample=False, num_beams=1, share_prefix=True,
                       image_keys=["red", "red"])
        with torch.no_grad():
            model(**batch, use_cache=True)
    assert greedy.shape[0] == 2
    assert found == []


def test_a_cli_run_warns_nothing(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """The first task of `make demo` printed transformers' "`past_key_values`/`cache_params` are deprecated"
    (the shared-prefix prefill read ``outputs.past_key_values``); MME's two questions per image take that path."""
    from mg_eval.cli.main import main

    argv = ["run", "--model", str(tiny_checkpoint), "--tasks", "mme", "--sample-data", "--limit", "4",
            "--output", str(tmp_path), "--no-progress", "--num-workers", "0", "--max-new-tokens-cap", "2"]
    with _deprecations() as found, contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    assert found == []
