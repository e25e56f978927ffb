"""Contract test parametrised over the registry: every task obeys the Task interface on its bundled sample.

Adding a task (a YAML + utils.py + sample/) needs no edit here.
"""

from __future__ import annotations

import json

import pytest
from PIL import Image

from mg_eval.tasks import PROTOCOLS, get_task, list_groups, list_tasks, resolve_tasks

GENERATION_KEYS = {"max_new_tokens", "do_sample", "temperature", "top_p", "num_beams", "seed"}
FAKE_RESPONSES = ("A", "Yes", "The answer is 4.", "")


@pytest.fixture(scope="module", params=list_tasks())
def loaded(request):
    task = get_task(request.param)
    if task.sample_path is None:
        pytest.skip(f"{task.name} ships no sample data (generated data only; `mg-eval validate` warns)")
    return task, task.load_sample()


def test_registry_has_the_papers_six_tasks():
    assert list_groups()["mgm_paper"] == ["textvqa_val", "mmbench_en_dev", "mme", "mmvet", "mmmu_val",
                                          "mathvista_testmini"]
    assert [t.benchmark for t in resolve_tasks(["mgm_paper"])] == ["textvqa", "mmbench", "mme", "mmvet", "mmmu",
                                                                    "mathvista"]


def test_sample_loads_with_unique_string_ids(loaded):
    task, docs = loaded
    assert task.sample_path is not None and task.sample_path.is_relative_to(task.config.folder)
    assert 2 <= len(docs) <= 20
    ids = [doc["doc_id"] for doc in docs]
    assert all(isinstance(i, str) and i for i in ids)
    assert len(set(ids)) == len(ids)
    assert task.load_sample(limit=2) == docs[:2]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_prompt_and_images_render(loaded, protocol):
    task, docs = loaded
    for doc in docs:
        text = task.doc_to_text(doc, protocol)
        assert isinstance(text, str) and text.strip()
        assert "<image>" not in text  # the processor adds the image token
        images = task.doc_to_visual(doc, protocol)
        assert all(isinstance(img, Image.Image) and img.mode == "RGB" and img.size[0] > 0 for img in images)


def test_protocols_are_fingerprinted(loaded):
    task, docs = loaded
    fingerprints = {p: task.fingerprint(p) for p in PROTOCOLS}
    assert len(set(fingerprints.values())) == len(PROTOCOLS)
    assert task.fingerprint("mgm") == get_task(task.name).fingerprint("mgm")
    for protocol in PROTOCOLS:
        kwargs = task.generation_kwargs(protocol)
        assert set(kwargs) == GENERATION_KEYS
        assert kwargs["max_new_tokens"] > 0 and kwargs["num_beams"] >= 1
        assert kwargs["do_sample"] or kwargs["temperature"] == 0.0
        json.dumps(task.prompt_config(protocol))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_fake_responses_score_and_rescore_from_json(loaded, protocol):
    task, docs = loaded
    for response in FAKE_RESPONSES:
        records = [task.process_result(doc, response, protocol) for doc in docs]
        for record, doc in zip(records, docs):
            assert record["doc_id"] == doc["doc_id"] and record["response"] == response and "target" in record
        stored = [json.loads(json.dumps(record)) for record in records]  # as samples.jsonl keeps them
        scores = task.aggregate(stored, protocol, judge=None)
        assert task.primary_metric in scores
        assert scores == task.aggregate(records, protocol, judge=None)
        json.dumps(scores)
        assert set(task.higher_is_better) <= set(scores)


def test_unknown_protocol_is_rejected(loaded):
    task, docs = loaded
    with pytest.raises(Exception, match="unknown protocol 'paper'.*mgm, lmms"):
        task.doc_to_text(docs[0], "paper")
