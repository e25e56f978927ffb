"""Per-sample rows of the sample browser and the thumbnails they point to.

A row is a list (``ROW_FIELDS`` order) so that 14k samples stay a few MB. Rows are written as JavaScript
chunks, ``data/<run slug>/<k>.js``, each calling ``MGR.chunk(slug, k, rows)``: ``fetch()`` of a local file is
blocked under ``file://``, a ``<script src>`` is not. The page loads a run's chunks on demand.

Thumbnails are downscaled JPEG copies (longest side ``thumb_size`` px) of the images the task's
``doc_to_visual`` returns, written once per (task, data path, doc_id) and shared by every run of that data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mg_eval.report.collect import EXTRACTED_KEYS, QUESTION_KEYS, RunView

ROW_FIELDS = ("doc_id", "question", "response", "extracted", "target", "outcome", "categories", "verdict",
              "thumbs", "prompt", "other")
CHUNK_SIZE = 500
MAX_IMAGES_PER_SAMPLE = 4
_TEXT_CAP = 600  # characters of each "other" field kept (the full value is in samples.jsonl)
_SHOWN_KEYS = frozenset({"doc_id", "prompt", "response", "fingerprint", *QUESTION_KEYS, *EXTRACTED_KEYS, "target"})


@dataclass
class Thumbnails:
    """Relative thumbnail paths per (task name, doc_id), and why images are missing where they are."""

    paths: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    written: int = 0

    def of(self, task: str, doc_id: str) -> list[str]:
        return self.paths.get((task, doc_id), [])


def text_of(value: Any) -> str:
    """A value as display text (strings as they are, other JSON values compactly)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def common_affixes(prompts: Sequence[str]) -> tuple[str, str]:
    """Longest common prefix and suffix of the prompts (the template around each question)."""
    if len(prompts) < 2:
        return "", ""
    prefix = os.path.commonprefix(list(prompts))
    suffix = os.path.commonprefix([p[len(prefix):][::-1] for p in prompts])[::-1]
    return prefix, suffix


def question_of(sample: Mapping[str, Any], prompt_core: str) -> str:
    for key in QUESTION_KEYS:
        if isinstance(sample.get(key), str) and sample[key].strip():
            return sample[key]
    return prompt_core.replace("<image>", "").strip()


def extracted_of(sample: Mapping[str, Any]) -> str:
    for key in EXTRACTED_KEYS:
        value = sample.get(key)
        if value not in (None, "", []):
            return text_of(value)
    return ""


def _other_fields(sample: Mapping[str, Any]) -> dict[str, str]:
    other = {}
    for key, value in sample.items():
        if key in _SHOWN_KEYS:
            continue
        text = text_of(value)
        other[str(key)] = text if len(text) <= _TEXT_CAP else text[:_TEXT_CAP] + " …"
    return other


def sample_rows(view: RunView, thumbs: Thumbnails) -> tuple[list[list[Any]], str]:
    """The browser rows of a run (``ROW_FIELDS`` order) and the prompt prefix they share."""
    prompts = [str(s.get("prompt") or "") for s in view.samples]
    prefix, suffix = common_affixes(prompts)
    rows = []
    for index, sample in enumerate(view.samples):
        doc_id = str(sample.get("doc_id", index))
        prompt = prompts[index]
        core = prompt[len(prefix): len(prompt) - len(suffix)] if len(prompt) >= len(prefix) + len(suffix) else prompt
        verdict = view.verdicts.get(doc_id)
        rows.append([
            doc_id, question_of(sample, core), text_of(sample.get("response")), extracted_of(sample),
            text_of(sample.get("target")), view.outcomes.get(doc_id), view.category_of(sample),
            None if verdict is None else text_of(verdict), thumbs.of(view.task, doc_id),
            prompt[len(prefix):], _other_fields(sample),
        ])
    return rows, prefix


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element or a ``.js`` file (no ``</script>``, no U+2028)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def write_chunks(out_dir: Path, slug: str, rows: Sequence[list[Any]], chunk_size: int = CHUNK_SIZE) -> int:
    """Write ``data/<slug>/<k>.js`` files; returns the number of chunks."""
    folder = out_dir / "data" / slug
    folder.mkdir(parents=True, exist_ok=True)
    n_chunks = max(1, -(-len(rows) // chunk_size))
    for k in range(n_chunks):
        part = rows[k * chunk_size:(k + 1) * chunk_size]
        (folder / f"{k}.js").write_text(f"MGR.chunk({script_json(slug)},{k},{script_json(part)});\n",
                                        encoding="utf-8")
    return n_chunks


def make_thumbnails(views: Iterable[RunView], out_dir: Path, size: int) -> Thumbnails:
    """Thumbnails of every sample of every run whose task and data can be loaded (else a note why not)."""
    thumbs = Thumbnails()
    wanted: dict[tuple[str, str | None, str], set[str]] = {}
    for view in views:
        key = (view.task, view.record["task"].get("data_path"), view.protocol)
        wanted.setdefault(key, set()).update(str(s.get("doc_id")) for s in view.samples)
    for (task_name, data_path, protocol), doc_ids in wanted.items():
        try:
            _thumbnails_of_task(task_name, data_path, protocol, doc_ids, out_dir, size, thumbs)
        except Exception as exc:  # images are optional: any failure leaves a note, never a broken report
            thumbs.notes[task_name] = f"images not shown: {type(exc).__name__}: {exc}"[:300]
    return thumbs


def _thumbnails_of_task(task_name: str, data_path: str | None, protocol: str, doc_ids: set[str],
                        out_dir: Path, size: int, thumbs: Thumbnails) -> None:
    from mg_eval.tasks import get_task

    task = get_task(task_name)
    if data_path is not None and not Path(data_path).exists():
        raise FileNotFoundError(f"the run's data_path {data_path} is not on this machine")
    docs = task.load(data_path=data_path)
    tag = hashlib.sha1(f"{task_name}|{data_path}".encode()).hexdigest()[:10]
    folder = out_dir / "thumbs" / tag
    folder.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        doc_id = str(doc["doc_id"])
        if doc_id not in doc_ids or (task_name, doc_id) in thumbs.paths:
            continue
        stem = hashlib.sha1(doc_id.encode()).hexdigest()[:16]
        names = [f"thumbs/{tag}/{stem}_{k}.jpg" for k in range(MAX_IMAGES_PER_SAMPLE)]
        existing = [name for name in names if (out_dir / name).is_file()]
        if not existing:
            existing = _write_thumbs(task.doc_to_visual(doc, protocol)[:MAX_IMAGES_PER_SAMPLE], names, out_dir, size)
            thumbs.written += len(existing)
        thumbs.paths[(task_name, doc_id)] = existing


def _write_thumbs(images: Sequence[Any], names: Sequence[str], out_dir: Path, size: int) -> list[str]:
    written = []
    for image, name in zip(images, names):
        copy = image.convert("RGB")
        copy.thumbnail((size, size))
        copy.save(out_dir / name, format="JPEG", quality=72, optimize=True)
        written.append(name)
    return written
