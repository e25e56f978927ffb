"""MMBench variants (YAML files in tasks/mmbench): MMBench-CN dev and MMBench-EN dev v1.1.

They share mmbench_en_dev's glue and the official CircularEval scorer (its conformance: test_metrics_mmbench.py);
here: the loaders on their sample files, the prompts per protocol, and circular scoring on the samples.
"""

from __future__ import annotations

import pytest

from mg_eval.tasks import get_task, list_groups

CN_MGM = "请直接回答选项字母。"
CN_LMMS = "请直接使用所提供的选项字母作为答案回答。"
MC = "Answer with the option's letter from the given choices directly."


def _by_id(task_name: str) -> dict[str, dict]:
    return {doc["doc_id"]: doc for doc in get_task(task_name).load_sample()}


def test_cn_sample_and_prompts():
    task = get_task("mmbench_cn_dev")
    docs = _by_id("mmbench_cn_dev")
    assert len(docs) == 6 and task.benchmark == "mmbench" and task.config.dataset_name == "cn"
    assert task.doc_to_text(docs["1"], "mgm") == (
        f"图片显示了十字路口的红绿灯。\n亮着的灯是什么颜色？\nA. 红色\nB. 绿色\n{CN_MGM}")
    assert task.doc_to_text(docs["0"], "lmms") == (
        f"图中是什么形状？ 有如下几个选项：\nA. 圆形\nB. 正方形\nC. 三角形\nD. 星形\n\n{CN_LMMS}")
    assert task.generation_kwargs("mgm")["max_new_tokens"] == 1024
    assert task.generation_kwargs("lmms")["max_new_tokens"] == 256


def test_v11_compact_images_resolve_to_the_main_row():
    task = get_task("mmbench_en_dev_v11")
    docs = _by_id("mmbench_en_dev_v11")
    assert len(docs) == 6
    copy, main = task.doc_to_visual(docs["2000000"])[0], task.doc_to_visual(docs["0"])[0]
    assert copy.tobytes() == main.tobytes()
    assert task.doc_to_text(docs["1000001"], "mgm") == (
        f"The picture shows a traffic light at a crossing.\nWhat color is the light that is on?\nA. green\nB. red\n{MC}")


@pytest.mark.parametrize("task_name", ["mmbench_cn_dev", "mmbench_en_dev_v11"])
def test_circular_scoring_on_the_sample(task_name):
    task = get_task(task_name)
    docs = task.load_sample()
    right = [task.process_result(d, d["answer"], "mgm") for d in docs]
    assert task.aggregate(right, "mgm")["accuracy"] == 100.0
    # one wrong circular copy of question 0 fails its whole group: 1 of 2 groups right
    wrong = [task.process_result(d, "B" if d["doc_id"] == "2000000" else d["answer"], "mgm") for d in docs]
    assert task.aggregate(wrong, "mgm")["accuracy"] == 50.0


def test_variants_join_the_mmbench_tag():
    assert {"mmbench_en_dev", "mmbench_cn_dev", "mmbench_en_dev_v11"} <= set(list_groups()["mmbench"])
