"""What results must say about how their predictions were made, so that a resumed run never lies.

* ``encoder_identity``: the vision encoders that live outside the checkpoint (the released layout keeps
  them in ``model_zoo/...``) are not covered by the checkpoint's weights hash; their hashes join every
  prediction fingerprint, so a resume with other encoders recomputes instead of reusing.
* ``prediction_records`` / ``made_with_summary``: every stored prediction carries ``made_with`` (batch
  size, device) and ``input_tokens``; results
  count the predictions per value, so a run resumed under another ``--batch-size`` says so.
* ``count_truncated``: inputs longer than the model's context are cut at the end (as the official
  code does); they are counted, never silent.
* ``protocol_departures``: the reasons a run is not for reporting (sample data, generation overrides).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mg_eval.api import RunOptions, TokenCountingGenerator


def encoder_identity(info: Mapping[str, Any]) -> dict[str, Any]:
    """``{"encoders": {key: weights hash}}`` for the encoders outside the checkpoint, else ``{}``.

    Empty for encoders inside the checkpoint folder (already in ``weights_hash``), so fingerprints of
    such checkpoints are unchanged.
    """
    outside = {key: entry.get("weights_hash") for key, entry in sorted((info.get("encoders") or {}).items())
               if not entry.get("inside_checkpoint")}
    return {"encoders": outside} if outside else {}


def prompt_source(generator: Any, protocol: str) -> dict[str, str]:
    """Which prompt a sample got: the protocol's user text (``mgm``: the MGM scripts'; ``lmms``: the benchmark's
    generic prompt) and the template that wrapped it (``info["prompt_template"]`` when the generator names it,
    e.g. ``chat_template:<id>`` or ``conversation:vicuna_v1``; else ``template:<template_id>``)."""
    template = generator.info.get("prompt_template") or f"template:{generator.template_id}"
    return {"protocol": protocol, "template": str(template)}


def made_with_summary(predictions: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``{setting: {value: number of predictions}}`` over ``made_with`` (``"unknown"`` for old records)."""
    counts: dict[str, Counter] = {"batch_size": Counter(), "device": Counter()}
    for prediction in predictions:
        made_with = prediction.get("made_with") or {}
        for key, counter in counts.items():
            counter[str(made_with.get(key, "unknown"))] += 1
    return {key: dict(sorted(counter.items())) for key, counter in counts.items()}


def count_truncated(predictions: Iterable[Mapping[str, Any]], generator: Any) -> int | None:
    """Predictions whose input (text + visual tokens) exceeded the context and was cut; ``None`` if unknown."""
    if not isinstance(generator, TokenCountingGenerator):
        return None
    context = generator.context_length
    return sum(1 for prediction in predictions if int(prediction.get("input_tokens") or 0) > int(context))


def protocol_departures(task: Any, protocol: str, options: RunOptions) -> list[str]:
    """Why this run departs from the task's protocol (each reason makes it ``for_reporting: false``).

    ``--limit`` is added by ``results.make_results``. Covered here: the bundled sample data instead of
    the benchmark data, and every generation override that changes the task's settings.
    """
    reasons = []
    data_path = (options.data_paths or {}).get(task.name)
    sample_path = getattr(task, "sample_path", None)
    if data_path and sample_path and Path(data_path).resolve() == Path(sample_path).resolve():
        reasons.append("bundled sample data, not the benchmark data")
    generation = dict(task.generation_kwargs(protocol))
    for key, value in (options.generation_overrides or {}).items():
        if key == "max_new_tokens_cap":
            task_value = generation.get("max_new_tokens")
            if task_value is None or int(value) < int(task_value):
                reasons.append(f"--max-new-tokens-cap {value}: max_new_tokens {task_value} of the protocol cut to "
                               f"{value}")
        elif generation.get(key) != value:
            reasons.append(f"generation override {key}={value!r} (the protocol has {generation.get(key)!r})")
    return reasons


def prediction_records(generator: Any, batch: Mapping[str, Any], samples: Sequence[Any],
                       responses: Sequence[str], stored: Mapping[tuple[str, str], Any],
                       made_with: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Store records of a generated batch's samples not stored yet: the prediction, what it was made with
    (``made_with``: batch size, device) and, when the generator can count them, the tokens it read."""
    lengths = generator.input_lengths(batch["inputs"]) if isinstance(generator, TokenCountingGenerator) else None
    records = []
    for position, (sample, prompt, response) in enumerate(zip(samples, batch["prompts"], responses)):
        if (sample.doc_id, sample.fingerprint) in stored:
            continue
        record = {"doc_id": sample.doc_id, "fingerprint": sample.fingerprint, "prompt": prompt,
                  "response": response, "made_with": dict(made_with)}
        if lengths is not None:
            record["input_tokens"] = int(lengths[position])
        records.append(record)
    return records
