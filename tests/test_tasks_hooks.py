"""How a task calls its folder's functions: hooks get only the arguments they declare; the task's ``aggregate``
serves every metric; the prompt style and the hub revision default once in the core."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mg_eval.errors import UserInputError
from mg_eval.tasks import Registry
from mg_eval.tasks.config import DEFAULT_HUB_REVISION, parse_config
from mg_eval.tasks.registry import TASKS_ROOT


@pytest.fixture()
def mme(tmp_path) -> Path:
    """A private copy of the MME folder (YAML, prompts, scorer, sample)."""
    shutil.copytree(TASKS_ROOT / "mme", tmp_path / "tasks" / "mme")
    return tmp_path / "tasks" / "mme"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _scores(folder: Path) -> dict:
    task = Registry.scan(folder.parent).get_task("mme")
    records = [task.process_result(doc, doc["answer"], "mgm") for doc in task.load_sample()]
    return task.aggregate(records, "mgm", judge=object())


def test_hooks_get_only_the_arguments_they_declare(mme):
    """``doc_to_visual(doc)`` gets no prompt, ``doc_to_text(doc, prompt)`` gets it (with its default style);
    ``scorer.aggregate(records)`` gets no judge, a ``**kwargs`` function gets every offered argument."""
    (mme / "probe.py").write_text(
        "def text(doc, prompt):\n    return prompt['style'] + ':' + doc['question'][:5]\n"
        "def aggregate(records, **offered):\n    return {'perception_total': len(records), 'cognition_total': sorted(offered)}\n")
    _edit(mme / "mme.yaml", "doc_to_text: !function utils.doc_to_text", "doc_to_text: !function probe.text")
    task = Registry.scan(mme.parent).get_task("mme")
    doc = task.load_sample(limit=1)[0]
    assert task.doc_to_text(doc, "mgm").startswith("mgm:") and task.doc_to_text(doc, "lmms").startswith("lmms:")
    assert len(task.doc_to_visual(doc, "mgm")) == 1
    assert _scores(mme)["perception_total"] == 400.0  # scorer.aggregate(records) takes no judge
    _edit(mme / "mme.yaml", "aggregate: !function scorer.aggregate", "aggregate: !function probe.aggregate")
    assert _scores(mme)["cognition_total"] == ["judge"]


def test_a_metric_may_name_its_own_aggregation(mme):
    (mme / "probe.py").write_text("def extra(records):\n    return {'n': len(records)}\n")
    _edit(mme / "mme.yaml", "metric_list: [perception_total, cognition_total]",
          "metric_list: [perception_total, {metric: n, aggregation: !function probe.extra, higher_is_better: false}]")
    task = Registry.scan(mme.parent).get_task("mme")
    assert task.higher_is_better == {"perception_total": True, "n": False}
    scores = _scores(mme)
    assert (scores["perception_total"], scores["n"]) == (400.0, len(task.load_sample()))


def test_a_metric_without_any_aggregation_is_an_error(mme):
    _edit(mme / "mme.yaml", "aggregate: !function scorer.aggregate\n", "")
    with pytest.raises(UserInputError, match=r"mme\.yaml: metric_list\[0\] needs an aggregation: set the task's 'aggregate"):
        parse_config(mme / "mme.yaml")


def test_the_hub_revision_defaults_once_and_a_pin_wins(mme):
    assert parse_config(mme / "mme.yaml").revision == DEFAULT_HUB_REVISION
    _edit(mme / "mme.yaml", "test_split: test", "test_split: test\ndataset_kwargs: {revision: 0123abc}")
    assert parse_config(mme / "mme.yaml").revision == "0123abc"


def test_a_declared_style_wins_over_the_protocol_name(mme):
    _edit(mme / "mme.yaml", "      remove: \" Please answer yes or no.\"\n      pre_prompt",
          "      style: mgm\n      remove: \" Please answer yes or no.\"\n      pre_prompt")
    task = Registry.scan(mme.parent).get_task("mme")
    assert task.prompt_config("lmms")["style"] == "mgm" and task.prompt_config("mgm")["style"] == "mgm"


def test_without_doc_to_visual_the_task_opens_its_image_fields(mme):
    """No ``doc_to_visual`` in the YAML: the images of ``image_fields``, then the set ``optional_image_fields``."""
    task = Registry.scan(mme.parent).get_task("mme")
    doc = task.load_sample(limit=1)[0]
    assert task.config.doc_to_visual is None
    [image] = task.doc_to_visual(doc, "lmms")
    assert image.mode == "RGB" and image.size == doc["image"].open().size
    _edit(mme / "mme.yaml", "image_fields: [image]", "image_fields: [image]\noptional_image_fields: [extra]")
    task = Registry.scan(mme.parent).get_task("mme")
    assert len(task.doc_to_visual({**doc, "extra": None}, "mgm")) == 1
    assert len(task.doc_to_visual({**doc, "extra": doc["image"]}, "mgm")) == 2
