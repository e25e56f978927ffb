"""The lmms-eval plugin: `--model mini_gemini` resolves through our entry point and runs lmms-eval's own
evaluator offline on tiny local tasks (generate_until batched, loglikelihood for multiple choice)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

pytest.importorskip("lmms_eval", reason="lmms-eval is not installed (pip install 'mini-gemini-eval[lmms]')")

UTILS = '''
from PIL import Image


def doc_to_visual(doc):
    return [Image.open(doc["image_path"]).convert("RGB")]


def doc_to_text(doc):
    return doc["question"] + "\\nAnswer the question using a single word or phrase."


def process_results(doc, results):
    return {"exact_match": float(results[0].strip().lower() == doc["answer"])}
'''

GENERATE_YAML = """task: mgm_toy_generate
dataset_path: json
dataset_kwargs:
  data_files:
    test: data.jsonl
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 5
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""

CHOICE_YAML = """task: mgm_toy_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: data.jsonl
test_split: test
output_type: multiple_choice
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_choice: ["yes", "no"]
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def toy_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lmms_tasks")
    rows = []
    for i in range(4):
        image = Image.new("RGB", (40, 30), (60 * i, 200 - 40 * i, 90))
        ImageDraw.Draw(image).ellipse([5, 5, 20 + i, 25], fill=(250, 250, 0))
        image.save(folder / f"img{i}.png")
        answer = "yes" if i % 2 == 0 else "no"
        rows.append({"question_id": i, "question": f"Is there a yellow circle number {i}?", "answer": answer,
                     "label": 0 if answer == "yes" else 1, "image_path": str(folder / f"img{i}.png")})
    (folder / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "utils.py").write_text(UTILS)
    (folder / "mgm_toy_generate.yaml").write_text(GENERATE_YAML)
    (folder / "mgm_toy_choice.yaml").write_text(CHOICE_YAML)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mg_eval.cli.demo import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("cache"))


def test_entry_point_manifest_names_our_class() -> None:
    from importlib.metadata import entry_points

    (point,) = [ep for ep in entry_points(group="lmms_eval.models") if ep.name == "mini_gemini"]
    payload = point.load()
    manifests = payload() if callable(payload) else payload
    assert manifests[0].model_id == "mini_gemini"
    assert manifests[0].simple_class_path == "mg_eval.lmms_plugin.MiniGemini"


def test_simple_evaluate_runs_mini_gemini_on_local_tasks(toy_tasks: Path, checkpoint: Path) -> None:
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.tasks import TaskManager

    from mg_eval.lmms_plugin import lmms_generation
    from mg_eval.models.mgm import MGMGenerator

    out = simple_evaluate(model="mini_gemini", model_args=f"pretrained={checkpoint},dtype=float32,device=cpu",
                          tasks=["mgm_toy_generate", "mgm_toy_choice"], batch_size=3, log_samples=True,
                          task_manager=TaskManager(include_path=str(toy_tasks), include_defaults=False))
    assert 0.0 <= out["results"]["mgm_toy_generate"]["exact_match,none"] <= 1.0
    assert 0.0 <= out["results"]["mgm_toy_choice"]["acc,none"] <= 1.0
    samples = out["samples"]["mgm_toy_generate"]
    assert len(samples) == 4
    # the batched plugin gives the answers our engine's adapter gives one by one
    generator = MGMGenerator.from_pretrained(checkpoint, dtype="float32", device="cpu")
    generation = lmms_generation({"max_new_tokens": 5, "temperature": 0, "until": ["\n\n"]})
    rows = [json.loads(line) for line in (toy_tasks / "data.jsonl").read_text().splitlines()]
    for sample in samples:
        row = rows[int(sample["doc_id"])]
        text = row["question"] + "\nAnswer the question using a single word or phrase."
        image = Image.open(row["image_path"]).convert("RGB")
        expected = generator.generate(generator.prepare([image], [text]), generation)[0]
        assert sample["resps"][0][0].strip() == expected
    choice = out["samples"]["mgm_toy_choice"][0]
    log_probs = [resp[0][0] for resp in choice["resps"]]
    assert all(value < 0 for value in log_probs)  # real log-likelihoods of "yes" / "no"


def test_multi_round_is_refused_with_a_message(checkpoint: Path) -> None:
    from mg_eval.lmms_plugin import MiniGemini

    model = MiniGemini(pretrained=str(checkpoint), dtype="float32", device="cpu")
    assert model.rank == 0 and model.world_size == 1 and str(model.device) == "cpu"
    with pytest.raises(NotImplementedError, match="multi_round"):
        model.generate_until_multi_round([])
