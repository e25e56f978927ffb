"""Small fakes for the engine tests: a task on PIL-drawn images and a deterministic generator.

The fake generator answers from the prompt text and the image pixels, so a prediction changes when its
prompt or image changes and never depends on the batch it was computed in.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from mg_eval.backends import Backend, BackendCapabilities
from mg_eval.engine.store import prediction_fingerprint


def draw_images(folder: Path, n: int) -> list[Path]:
    """``n`` small PNGs with different colours and shapes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        image = Image.new("RGB", (32, 24), ((37 * i) % 256, (91 * i) % 256, (13 * i) % 256))
        ImageDraw.Draw(image).rectangle([i % 10, 2, 12 + i % 10, 20], fill=(255, 255 - i, i))
        path = folder / f"img_{i:03d}.png"
        image.save(path)
        paths.append(path)
    return paths


class FakeTask:
    """A VQA-like task: ``n`` docs, answer = a digit, accuracy in percent."""

    benchmark = "fake"
    primary_metric = "accuracy"

    def __init__(self, root: Path, n: int = 12, name: str = "fake_vqa", version: int = 1,
                 suffix: str = "Answer with one digit.", max_new_tokens: int = 8, do_sample: bool = False):
        self.root, self.n, self.name, self.version = Path(root), n, name, version
        self.suffix, self.max_new_tokens, self.do_sample = suffix, max_new_tokens, do_sample
        self.questions: dict[str, str] = {}
        draw_images(self.root / "images", n)

    def load(self, data_path: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        docs = [{"doc_id": f"q{i:03d}", "image": str(self.root / "images" / f"img_{i:03d}.png"),
                 "question": self.questions.get(f"q{i:03d}", f"What digit is shown in picture {i}?"),
                 "answer": str(i % 3)} for i in range(self.n)]
        return docs[:limit] if limit else docs

    def doc_to_visual(self, doc: dict[str, Any], protocol: str = "mgm") -> list[Image.Image]:
        with Image.open(doc["image"]) as image:
            return [image.convert("RGB")]

    def doc_to_text(self, doc: dict[str, Any], protocol: str) -> str:
        return f"{doc['question']}\n{self.suffix}"

    def prompt_config(self, protocol: str) -> dict[str, Any]:
        return {"suffix": self.suffix}

    def data_fingerprint(self, data_path: str | None = None) -> dict[str, Any]:
        return {"source": "local", "path": str(self.root / "images")}

    def generation_kwargs(self, protocol: str) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample, "temperature": 0.0,
                "top_p": None, "num_beams": 1, "seed": 42}

    def process_result(self, doc: dict[str, Any], response: str, protocol: str) -> dict[str, Any]:
        extracted = response.strip()[:1]
        return {"doc_id": doc["doc_id"], "target": doc["answer"], "extracted": extracted,
                "score": float(extracted == doc["answer"])}

    def aggregate(self, records: list[dict[str, Any]], protocol: str, judge: Any = None) -> dict[str, Any]:
        return {"accuracy": 100.0 * sum(r["score"] for r in records) / max(1, len(records)),
                "n": len(records)}

    def fingerprint(self, protocol: str) -> str:
        return prediction_fingerprint(version=self.version, suffix=self.suffix,
                                      generation=self.generation_kwargs(protocol))


class FakeGenerator:
    """Deterministic ``Generator``: answer digit = hash(prompt, pixels) % 3 (+ optional delay per batch)."""

    def __init__(self, name: str = "fake-model", delay_s: float = 0.0, weights: str = "w0"):
        self.info = {"name": name, "path": None, "weights_hash": f"sha256:{weights}", "config": {"tiny": True},
                     "dtype": "float32", "device": "cpu", "device_map": None}
        self.template_id = "fake-template"
        self.delay_s = delay_s
        self.calls: list[int] = []

    def render_prompt(self, text: str, has_image: bool) -> str:
        return f"USER: {'<image>' + chr(10) if has_image else ''}{text} ASSISTANT:"

    def prepare(self, images: list[Image.Image | None], texts: list[str]) -> dict[str, Any]:
        pixels = [hashlib.sha256(image.tobytes()).hexdigest() if image is not None else "" for image in images]
        return {"texts": list(texts), "pixels": pixels}

    def generate(self, batch: dict[str, Any], generation: dict[str, Any]) -> list[str]:
        self.calls.append(len(batch["texts"]))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for text, pixels in zip(batch["texts"], batch["pixels"]):
            digest = hashlib.sha256(f"{text}|{pixels}|{self.info['weights_hash']}".encode()).hexdigest()
            out.append(f"{int(digest, 16) % 3} because reasons")
        return out


class FakeSampleGenerator(FakeGenerator):
    """``FakeGenerator`` that also prepares sample by sample (the engine's per-sample worker pipeline)."""

    per_sample_preprocessing = True

    def prepare_sample(self, image: Image.Image | None, text: str) -> dict[str, Any]:
        return self.prepare([image], [text])

    def collate(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        return {"texts": [s["texts"][0] for s in samples], "pixels": [s["pixels"][0] for s in samples]}


class FakeBackend(Backend):
    """A backend the engine knows only through its entry point: greedy only, no fast-decode options.

    ``build`` gives a :class:`FakeGenerator` named after the model folder; ``built`` counts the builds, so a
    test can prove an error came before any model was built.
    """

    name = "fake-vlm"
    description = "test double"
    capabilities = BackendCapabilities(decoding=frozenset({"greedy"}), devices=("cpu",), options=("temperature_bias",))
    built: list[str] = []
    version_string = "1.0"

    def version(self) -> str:
        return self.version_string

    def build(self, path: Path, options: Any, context: Any) -> FakeGenerator:
        FakeBackend.built.append(str(path))
        return FakeGenerator(name=Path(path).name)


def register_entry_points(site: Path, entries: dict[str, str]) -> Path:
    """A ``*.dist-info`` under ``site`` declaring ``entries`` in the group ``mg_eval.backends`` (put ``site``
    on ``sys.path`` and ``importlib.metadata`` finds them, as for an installed package)."""
    info = site / "fake_backends-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-backends\nVersion: 0.1\n", encoding="utf-8")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[mg_eval.backends]\n{lines}", encoding="utf-8")
    return site
