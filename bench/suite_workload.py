"""Synthetic benchmark workloads with the real shapes of docs/roofline.md#benchmark-workload.

* ``BENCHMARKS``: per benchmark the full sample count, the mean question tokens q (the prompt is
  41 scaffold tokens + q + the visual tokens), the official ``max_new_tokens`` and the generated-length
  distribution (tokens incl. EOS). Short-answer sets are constant; MM-Vet and MathVista are long-tailed
  (log-normal with the central mean of docs/roofline.md#benchmark-workload, clipped to ``max_new_tokens``: random weights never emit
  EOS, so this script forces each sample's length, and only here).
* ``SyntheticTask``: an in-memory Task for ``mg_eval.engine.evaluate`` (seeded noise images of 1024×768,
  scored by "was the forced length honoured").
* ``SuiteGenerator``: ``MGMGenerator`` over a random-weight model with synthetic token ids of the
  planned length (no tokenizer: the token count is what costs) and the real image preprocessing in the
  DataLoader workers; ``generate`` forces each row's length with :class:`ForcedLengthProcessor`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers.generation.logits_process import LogitsProcessor, LogitsProcessorList

from mg_eval.models.base import hf_generation_kwargs
from mg_eval.models.mgm import MGMGenerator
from mg_model.generation.fast_decode import DecodeOptions, apply_decode_options, generate_kwargs

IMAGE_TOKEN_INDEX = -200
SCAFFOLD_TOKENS = 41  # BOS + Vicuna system prompt + role tags (docs/roofline.md#benchmark-workload)


@dataclass(frozen=True)
class BenchmarkShape:
    """One benchmark's workload shape (docs/roofline.md#benchmark-workload)."""

    name: str
    n_full: int
    question_tokens: int
    max_new_tokens: int
    gen_mean: int  # generated tokens incl. EOS (central value)
    gen_median: int  # = gen_mean for the constant short-answer sets


BENCHMARKS = (
    BenchmarkShape("textvqa", 5000, 58, 128, 4, 4),
    BenchmarkShape("mmbench", 4377, 89, 1024, 2, 2),
    BenchmarkShape("mme", 2374, 37, 128, 2, 2),
    BenchmarkShape("mmvet", 218, 15, 1024, 120, 60),
    BenchmarkShape("mmmu", 900, 114, 128, 2, 2),  # greedy here; the official MMMU decoding is 5-beam sampling
    BenchmarkShape("mathvista", 1000, 64, 1024, 100, 40),
)


def _rng(*parts: Any) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16))


def draw_lengths(shape: BenchmarkShape, n: int, cap: int | None = None) -> list[int]:
    """``n`` generated lengths (EOS incl.): constant, or log-normal with the shape's median and mean."""
    limit = min(shape.max_new_tokens, cap or shape.max_new_tokens)
    if shape.gen_median >= shape.gen_mean:
        return [min(limit, shape.gen_mean)] * n
    sigma = math.sqrt(2 * math.log(shape.gen_mean / shape.gen_median))
    draws = _rng("gen", shape.name).lognormal(math.log(shape.gen_median), sigma, size=n)
    return [int(min(limit, max(1, round(value)))) for value in draws]


def draw_question_tokens(shape: BenchmarkShape, n: int) -> list[int]:
    """Question lengths: the mean ±25 % (uniform), at least 1."""
    draws = _rng("q", shape.name).uniform(0.75, 1.25, size=n) * shape.question_tokens
    return [max(1, int(round(value))) for value in draws]


class SyntheticTask:
    """An in-memory engine Task: ``n`` documents with planned text/generated lengths."""

    version, primary_metric = 1, "length_ok"

    def __init__(self, shape: BenchmarkShape, n: int, gen_cap: int | None = None, image_size: tuple = (1024, 768)):
        self.shape, self.name, self.benchmark = shape, f"suite_{shape.name}", shape.name
        self.image_size = image_size
        self.gen_lengths = draw_lengths(shape, n, gen_cap)
        self.question_tokens = draw_question_tokens(shape, n)
        self.docs = [{"doc_id": f"{shape.name}-{i:05d}", "q": q, "g": g}
                     for i, (q, g) in enumerate(zip(self.question_tokens, self.gen_lengths))]

    def load(self, data_path: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The documents (``limit``: the first N)."""
        return self.docs[:limit] if limit else list(self.docs)

    def doc_to_visual(self, doc: dict[str, Any], protocol: str = "mgm") -> list[Image.Image]:
        """A seeded noise image (decoding and preprocessing cost like a photo of that size)."""
        width, height = self.image_size
        pixels = _rng("img", doc["doc_id"]).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        return [Image.fromarray(pixels)]

    def doc_to_text(self, doc: dict[str, Any], protocol: str) -> str:
        """Carries the planned lengths (read by :class:`SuiteGenerator`; the text itself is not tokenised)."""
        return f"{doc['doc_id']}|q={doc['q']}|g={doc['g']}"

    def data_fingerprint(self, data_path: str | None = None) -> dict[str, Any]:
        """Synthetic data: the workload's own fingerprint stands for it."""
        return {"source": "synthetic", "fingerprint": self.fingerprint("mgm")}

    def prompt_config(self, protocol: str) -> dict[str, Any]:
        """No prompt pieces: the text only carries the planned lengths."""
        return {}

    def generation_kwargs(self, protocol: str) -> dict[str, Any]:
        """Greedy with the benchmark's official ``max_new_tokens``."""
        return {"max_new_tokens": self.shape.max_new_tokens, "do_sample": False, "num_beams": 1, "seed": None}

    def process_result(self, doc: dict[str, Any], response: str, protocol: str) -> dict[str, Any]:
        """Score 1 when the row generated exactly its planned length (response ``"<length>:<token digest>"``)."""
        return {"doc_id": doc["doc_id"], "target": doc["g"], "response": response,
                "score": float(response.split(":")[0] == str(doc["g"]))}

    def aggregate(self, records: list[dict[str, Any]], protocol: str, judge: Any = None) -> dict[str, Any]:
        """Fraction of rows with the planned length and the mean generated length."""
        return {"length_ok": sum(r["score"] for r in records) / max(1, len(records)),
                "gen_mean": sum(int(r["target"]) for r in records) / max(1, len(records))}

    def fingerprint(self, protocol: str) -> str:
        """Stable per workload."""
        return hashlib.sha256(repr((self.name, self.gen_lengths, self.question_tokens)).encode()).hexdigest()[:16]


def parse_planned(text: str) -> tuple[int, int]:
    """(question tokens, generated tokens) from a :meth:`SyntheticTask.doc_to_text` string."""
    fields = dict(part.split("=", 1) for part in text.split("|")[1:])
    return int(fields["q"]), int(fields["g"])


class ForcedLengthProcessor(LogitsProcessor):
    """Row i emits EOS exactly as its ``lengths[i]``-th new token and never before (bench only)."""

    def __init__(self, lengths: torch.Tensor, eos_token_id: int):
        self.lengths, self.eos = lengths, int(eos_token_id)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids [B, t] (new tokens so far: t = step), scores [B, V] -> scores with EOS forced/banned."""
        return force_lengths(scores, self.lengths, torch.full_like(self.lengths, input_ids.shape[1]), self.eos)


def force_lengths(scores: torch.Tensor, lengths: torch.Tensor, steps: torch.Tensor, eos: int) -> torch.Tensor:
    """scores [B, V]: EOS banned, except where row i has ``steps[i] + 1 == lengths[i]``: only EOS allowed."""
    scores = scores.clone()
    scores[:, eos] = float("-inf")
    finish = (lengths.to(scores.device) == steps.to(scores.device) + 1)
    scores[finish] = float("-inf")
    scores[finish, eos] = 0.0
    return scores


class SuiteGenerator(MGMGenerator):
    """``MGMGenerator`` over a random-weight model, with synthetic prompts of the planned lengths.

    ``image_processor``: an ``MGMImageProcessor`` at the model's sizes; ``token_ids``: (bos, eos, pad).
    """

    def __init__(self, model: Any, image_processor: Any, name: str, token_ids: tuple[int, int, int],
                 dtype: str, device: str):
        self.model, self.image_processor = model, image_processor
        self.bos, self.eos, self.pad = token_ids
        self.vocab = int(model.config.llm_config().vocab_size)
        self.info = {"name": name, "path": None, "weights_hash": f"random:{name}", "config": {}, "dtype": dtype,
                     "device": device, "device_map": None, "decode": DecodeOptions().as_dict()}
        self.template_id = "synthetic"

    def set_decode(self, options: DecodeOptions) -> None:
        """Use ``options`` from now on (attention kernel applied to the model; recorded in ``info``)."""
        apply_decode_options(self.model, options)
        self.info["decode"] = options.as_dict()

    @property
    def per_sample_preprocessing(self) -> bool:
        """Spread preprocessing over workers sample by sample for real image sizes."""
        return self.image_processor.image_size_aux >= 512

    def render_prompt(self, text: str, has_image: bool) -> str:
        """The planned text itself (stored as the prompt)."""
        return text

    def prepare_sample(self, image: Image.Image | None, text: str) -> dict[str, Any]:
        """input_ids [1, 41 + q] (BOS, random ids, one -200), images via the real preprocessing."""
        question, generated = parse_planned(text)
        ids = torch.from_numpy(_rng("ids", text).integers(3, self.vocab, size=SCAFFOLD_TOKENS + question - 1))
        ids = torch.cat([torch.tensor([self.bos]), ids[:20], torch.tensor([IMAGE_TOKEN_INDEX]), ids[20:]])
        sample = {"input_ids": ids[None], "attention_mask": torch.ones(1, ids.numel(), dtype=torch.long),
                  "forced_lengths": torch.tensor([generated])}
        return sample | self.image_processor([image])

    def prepare(self, images: list[Image.Image | None], texts: list[str]) -> dict[str, Any]:
        """A whole batch (workers prepare whole batches for tiny image sizes)."""
        return self.collate([self.prepare_sample(image, text) for image, text in zip(images, texts)])

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        """Left pad input_ids / attention_mask; stack images, images_aux and forced lengths."""
        length = max(sample["input_ids"].shape[1] for sample in samples)
        input_ids = torch.full((len(samples), length), self.pad, dtype=torch.long)
        attention_mask = torch.zeros((len(samples), length), dtype=torch.long)
        for row, sample in enumerate(samples):
            width = sample["input_ids"].shape[1]
            input_ids[row, length - width:] = sample["input_ids"][0]
            attention_mask[row, length - width:] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        for key in ("images", "images_aux", "forced_lengths"):
            batch[key] = torch.cat([sample[key] for sample in samples])
        return batch

    def generate_ids(self, batch: dict[str, Any], generation: dict[str, Any]) -> torch.Tensor:
        """New token ids [B, n] with each row's length forced."""
        kwargs = hf_generation_kwargs(generation) | {"eos_token_id": self.eos, "pad_token_id": self.pad}
        kwargs["logits_processor"] = LogitsProcessorList([ForcedLengthProcessor(batch["forced_lengths"], self.eos)])
        inputs = {key: value for key, value in self._to_device(batch).items()
                  if key in ("input_ids", "attention_mask", "images", "images_aux")}
        options = DecodeOptions.from_dict(self.info["decode"])
        return self.model.generate(**inputs, **kwargs, **generate_kwargs(options, self.input_device.type))

    @torch.inference_mode()
    def generate(self, batch: dict[str, Any], generation: dict[str, Any]) -> list[str]:
        """One response per row: ``"<tokens up to and including EOS>:<digest of those tokens>"``."""
        return [token_summary(row, self.eos) for row in self.generate_ids(batch, generation).tolist()]

    def split_requests(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per-sample requests for continuous batching; ``state`` = the row's forced length."""
        requests = super().split_requests(batch)
        for request, length in zip(requests, batch["forced_lengths"].tolist()):
            request["state"] = int(length)
        return requests

    def row_processor(self) -> Any:
        """Forces each active row's planned length (rows are at different steps)."""
        eos = self.eos
        return lambda states, steps, scores: force_lengths(scores, torch.tensor(states), steps, eos)

    def generate_stream(self, requests: Any, generation: dict[str, Any], batch_size: int) -> Any:
        """Continuous batching with forced lengths; response = tokens generated up to and including EOS."""
        from mg_model.generation.continuous import ContinuousDecoder, Request

        max_new = hf_generation_kwargs(generation)["max_new_tokens"]
        decoder = ContinuousDecoder(self.model, batch_size, [self.eos], row_processor=self.row_processor())
        stream = (Request(key, {k: v for k, v in request.items() if k != "state"}, max_new, request["state"])
                  for key, request in requests)
        for key, tokens in decoder.run(stream):
            yield key, token_summary(tokens, self.eos)


def token_summary(tokens: list[int], eos: int) -> str:
    """``"<n>:<sha1 of the n tokens>"``, n = tokens up to and including the first EOS."""
    n = tokens.index(eos) + 1 if eos in tokens else len(tokens)
    return f"{n}:{hashlib.sha1(repr(tokens[:n]).encode()).hexdigest()[:10]}"
