"""Task YAML rules: unknown keys, !function confinement, include, groups, unknown names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mg_eval.errors import UserInputError
from mg_eval.tasks import Registry, get_task, resolve_tasks
from mg_eval.tasks.config import parse_config
from mg_eval.tasks.registry import TASKS_ROOT


@pytest.fixture()
def root(tmp_path) -> Path:
    """A private tasks/ folder holding a copy of the MME task (YAML, utils, sample)."""
    shutil.copytree(TASKS_ROOT / "mme", tmp_path / "tasks" / "mme")
    return tmp_path / "tasks"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_private_root_works_and_scores(root):
    task = Registry.scan(root).get_task("mme")
    docs = task.load_sample()
    records = [task.process_result(doc, doc["answer"], "mgm") for doc in docs]
    scores = task.aggregate(records, "mgm")
    assert (scores["perception_total"], scores["cognition_total"]) == (400.0, 200.0)


def test_unknown_key_names_file_and_key(root):
    _edit(root / "mme" / "mme.yaml", "test_split: test", "test_split: test\ntest_splt: oops")
    with pytest.raises(UserInputError, match=r"mme\.yaml: unknown key 'test_splt' \(did you mean test_split"):
        parse_config(root / "mme" / "mme.yaml")
    registry = Registry.scan(root)
    assert registry.errors and "test_splt" in registry.errors[0][1]
    with pytest.raises(UserInputError, match="test_splt"):
        registry.get_task("mme")


def test_model_keyed_prompt_kwargs_are_rejected(root):
    _edit(root / "mme" / "mme.yaml", "metadata:", "lmms_eval_specific_kwargs:\n  qwen_vl: {post_prompt: x}\nmetadata:")
    with pytest.raises(UserInputError, match=r"unknown key 'lmms_eval_specific_kwargs'.*never keyed on a model name"):
        parse_config(root / "mme" / "mme.yaml")


def test_unknown_generation_key_and_missing_version(root):
    _edit(root / "mme" / "mme.yaml", "max_new_tokens: 16,", "max_new_token: 16,")
    with pytest.raises(UserInputError, match=r"unknown generation key 'max_new_token'"):
        parse_config(root / "mme" / "mme.yaml")
    _edit(root / "mme" / "mme.yaml", "max_new_token: 16,", "max_new_tokens: 16,")
    _edit(root / "mme" / "mme.yaml", "  version: 1", "  note: no version")
    with pytest.raises(UserInputError, match=r"metadata\.version is required"):
        parse_config(root / "mme" / "mme.yaml")


@pytest.mark.parametrize("reference", ["..utils.doc_to_text", "../other.fn", "/etc/passwd.fn"])
def test_function_reference_must_look_like_module_dot_name(root, reference):
    _edit(root / "mme" / "mme.yaml", "!function utils.doc_to_text", f"!function {reference}")
    task = Registry.scan(root).get_task("mme")
    with pytest.raises(UserInputError, match="must look like 'utils.function_name'"):
        task.doc_to_text(task.load_sample()[0], "mgm")


def test_function_escaping_the_folder_through_a_link_is_an_error(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text("def doc_to_text(doc, prompt):\n    return 'pwned'\n")
    (root / "mme" / "linked").symlink_to(outside, target_is_directory=True)
    _edit(root / "mme" / "mme.yaml", "!function utils.doc_to_text", "!function linked.evil.doc_to_text")
    task = Registry.scan(root).get_task("mme")
    with pytest.raises(UserInputError, match="leaves the task folder"):
        task.doc_to_text(task.load_sample()[0], "mgm")


def test_function_outside_the_folder_is_not_imported_from_sys_path(root):
    """`os.system` is not a module of the task folder: it must not resolve to the standard library."""
    _edit(root / "mme" / "mme.yaml", "!function utils.doc_to_text", "!function os.system")
    task = Registry.scan(root).get_task("mme")
    with pytest.raises(UserInputError, match=r"needs .*mme/os\.py, which does not exist"):
        task.doc_to_text(task.load_sample()[0], "mgm")


def test_missing_function_in_module(root):
    _edit(root / "mme" / "mme.yaml", "!function utils.doc_to_text", "!function utils.no_such_function")
    task = Registry.scan(root).get_task("mme")
    with pytest.raises(UserInputError, match="has no function 'no_such_function'"):
        task.doc_to_text(task.load_sample()[0], "mgm")


def test_include_inherits_and_child_keys_win(root):
    (root / "mme" / "mme_short.yaml").write_text(
        "include: mme.yaml\ntask: mme_short\nmetadata:\n  version: 2\n")
    registry = Registry.scan(root)
    child = registry.get_task("mme_short")
    assert child.version == 2 and child.config.dataset_path == "lmms-lab-encoder/MME"
    assert child.fingerprint("mgm") != registry.get_task("mme").fingerprint("mgm")
    (root / "mme" / "bad.yaml").write_text("include: ../../outside.yaml\ntask: bad\n")
    with pytest.raises(UserInputError, match="leaves the task folder"):
        parse_config(root / "mme" / "bad.yaml")


def test_groups_expand_and_unknown_names_suggest(root):
    (root / "paper.yaml").write_text("group: paper\ntask: [mme]\nmetadata: {version: 1}\n")
    registry = Registry.scan(root)
    assert [t.name for t in registry.resolve(["paper", "mme"])] == ["mme"]
    with pytest.raises(UserInputError, match="did you mean: mme"):
        registry.get_task("mmee")
    with pytest.raises(UserInputError, match="'paper' is a group"):
        registry.get_task("paper")
    (root / "broken_group.yaml").write_text("group: broken\ntask: [mme, nope]\n")
    with pytest.raises(UserInputError, match="group 'broken' lists unknown task 'nope'"):
        Registry.scan(root).resolve(["broken"])


def test_duplicate_task_names_are_reported(root):
    shutil.copy(root / "mme" / "mme.yaml", root / "mme" / "mme_copy.yaml")
    registry = Registry.scan(root)
    assert any("already defined" in message for _, message in registry.errors)


def test_default_registry_api():
    assert get_task("mme").name == "mme"
    with pytest.raises(UserInputError, match="did you mean: mmmu_val"):
        get_task("mmmu_vall")
    with pytest.raises(UserInputError, match=r"'mmmu' is a group, not a task; use resolve_tasks"):
        get_task("mmmu")
    assert [t.name for t in resolve_tasks("textvqa_val, mme")] == ["textvqa_val", "mme"]
    with pytest.raises(UserInputError, match="did you mean: textvqa_val"):
        resolve_tasks(["textvqa_vall"])
