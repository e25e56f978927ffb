"""Exact prompt strings per protocol against the official scripts and lmms-eval, one sample of each benchmark (bundled sample data).

mgm = the official MGM / LLaVA-1.5 scripts (docs/official_code.md#evaluation-scripts); lmms = lmms-eval 0.7.3
(its task YAMLs and utils.py). Expected strings are written out by hand from those sources.
"""

from __future__ import annotations

import functools

import pytest

from mg_eval.tasks import get_task

MC = "Answer with the option's letter from the given choices directly."
SHORT = "Answer the question using a single word or phrase."


@functools.cache
def _docs(task_name: str) -> dict[str, dict]:
    return {doc["doc_id"]: doc for doc in get_task(task_name).load_sample()}


def _doc(task_name: str, doc_id: str) -> dict:
    return _docs(task_name)[doc_id]


CASES = [
    # TextVQA: OCR reference line (mgm); capitalize() lower-cases the rest and no OCR (lmms).
    ("textvqa_val", "34603", "mgm",
     f"what does the NASA sign say?\nReference OCR token: NASA, 2024\n{SHORT}"),
    ("textvqa_val", "34603", "lmms", f"What does the nasa sign say?\n{SHORT}"),
    ("textvqa_val", "34605", "mgm", f"what color is the circle?\n{SHORT}"),  # no OCR tokens -> no line
    # MMBench: hint line + options A-D (mgm); "hint question There are several options:" + double newline (lmms).
    ("mmbench_en_dev", "1", "mgm",
     f"The picture shows a traffic light at a crossing.\nWhat color is the light that is on?\nA. red\nB. green\n{MC}"),
    ("mmbench_en_dev", "1", "lmms",
     "The picture shows a traffic light at a crossing. What color is the light that is on? There are several "
     f"options:\nA. red\nB. green\n\n{MC}"),
    ("mmbench_en_dev", "1000001", "mgm",
     f"The picture shows a traffic light at a crossing.\nWhat color is the light that is on?\nA. green\nB. red\n{MC}"),
    ("mmbench_en_dev", "0", "mgm", f"Which shape is shown in the image?\nA. circle\nB. square\nC. triangle\nD. star\n{MC}"),
    # MME: " Please answer yes or no." replaced by the short-answer suffix (two-space variant keeps one space).
    ("mme", "existence/000000006040.jpg#0", "mgm", f"Is there a blue circle in this image?\n{SHORT}"),
    ("mme", "existence/000000006040.jpg#0", "lmms", f"Is there a blue circle in this image?\n{SHORT}"),
    ("mme", "existence/000000018918.jpg#1", "lmms", f"Is there a red circle in this image? \n{SHORT}"),
    # MM-Vet: raw question (mgm); step-by-step pre-prompt (lmms).
    ("mmvet", "v1_0", "mgm", "What is the answer to the equation?"),
    ("mmvet", "v1_0", "lmms", "First please perform reasoning, and think step by step to provide best answer to "
                              "the following question: \n\nWhat is the answer to the equation?"),
    # MMMU: "(A) opt" lines then a blank line (mgm, llava1.5.yaml); "A. opt" lines (lmms); open questions.
    ("mmmu_val", "validation_Art_1", "mgm",
     f"<image 1> Which shape is drawn in the picture?\n(A) A circle\n(B) A square\n(C) A triangle\n(D) A star\n\n{MC}"),
    ("mmmu_val", "validation_Art_1", "lmms",
     f"<image 1> Which shape is drawn in the picture?\nA. A circle\nB. A square\nC. A triangle\nD. A star\n\n{MC}"),
    ("mmmu_val", "validation_Math_1", "mgm", f"<image 1> How many bars are in the chart?\n{SHORT}"),
    ("mmmu_val", "validation_Math_1", "lmms", f"<image 1> How many bars are in the chart?\n\n{SHORT}"),
    # MathVista: official query, hint first (mgm); lmms-eval format-prompt, hint last.
    ("mathvista_testmini", "1", "mgm",
     "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
     "Question: What shape is drawn in orange?\nChoices:\n(A) circle\n(B) square\n(C) triangle\n(D) star"),
    ("mathvista_testmini", "1", "lmms", f"What shape is drawn in orange?\nA. circle\nB. square\nC. triangle\nD. star\n{MC}"),
    ("mathvista_testmini", "3", "mgm",
     "Hint: Please answer the question requiring a floating-point number with one decimal place and provide the "
     "final value, e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: What is the length of the bar labelled in the "
     "picture? (Unit: cm)"),
    ("mathvista_testmini", "3", "lmms", "What is the length of the bar labelled in the picture? (Unit: cm)\n"
                                        "Answer the question using a single floating-point number with one decimal place."),
    ("mathvista_testmini_solution", "2", "lmms",
     "Question: How many bars are in the chart?\nHint: Please answer the question requiring an integer answer and "
     "provide the final value, e.g., 1, 2, 3, at the end.\nSolution:"),
    # OCRBench / HallusionBench: the raw question (VLMEvalKit's base build_prompt; lmms-eval with empty pre/post).
    ("ocrbench", "8", "mgm", "What is the date? Answer this question using the text in the image directly."),
    ("ocrbench", "8", "lmms", "What is the date? Answer this question using the text in the image directly."),
    ("hallusionbench", "VD_illusion_1_1_1_0", "mgm", "Are the two bars the same height?"),
    ("hallusionbench", "VD_illusion_1_1_1_0", "lmms", "Are the two bars the same height?"),
    # AI2D: question + "A. opt" lines + MC suffix (VLMEvalKit's LLaVA MCQ prompt; lmms-eval prompt_format mcq).
    ("ai2d_test", "2", "mgm", f"Which layer is on the outside?\nA. core\nB. mantle\nC. crust\n{MC}"),
    ("ai2d_test", "2", "lmms", f"Which layer is on the outside?\nA. core\nB. mantle\nC. crust\n{MC}"),
]


@pytest.mark.parametrize(("task_name", "doc_id", "protocol", "expected"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_prompt_text(task_name, doc_id, protocol, expected):
    assert get_task(task_name).doc_to_text(_doc(task_name, doc_id), protocol) == expected


def test_mathvista_mgm_prompt_equals_the_official_query_file():
    """MGM's query build is the official MathVista query (data/query.json ships with the sample)."""
    task = get_task("mathvista_testmini")
    for doc in task.load_sample():
        assert task.doc_to_text(doc, "mgm") == doc["query"]


def test_mmmu_images_per_protocol():
    """MGM's runner feeds image_1 only; lmms-eval feeds every <image k> the question and options reference."""
    task = get_task("mmmu_val")
    doc = _doc("mmmu_val", "validation_Art_2")
    assert len(task.doc_to_visual(doc, "mgm")) == 1
    assert len(task.doc_to_visual(doc, "lmms")) == 2


def test_decoding_per_protocol_follows_the_official_scripts():
    mmmu = get_task("mmmu_val").generation_kwargs("mgm")
    assert mmmu == {"max_new_tokens": 128, "do_sample": True, "temperature": 1.0, "top_p": None, "num_beams": 5,
                    "seed": 42}
    assert get_task("mmvet").generation_kwargs("mgm")["max_new_tokens"] == 1024
    assert get_task("textvqa_val").generation_kwargs("mgm")["max_new_tokens"] == 128
    assert get_task("mme").generation_kwargs("lmms")["max_new_tokens"] == 16
    lmms_mmvet = get_task("mmvet").generation_kwargs("lmms")
    assert lmms_mmvet["temperature"] == 0.2 and lmms_mmvet["do_sample"] is True
    for name in ("ocrbench", "ai2d_test", "hallusionbench"):  # VLMEvalKit's LLaVA defaults; lmms-eval's YAMLs
        assert get_task(name).generation_kwargs("mgm")["max_new_tokens"] == 2048
    assert [get_task(name).generation_kwargs("lmms")["max_new_tokens"]
            for name in ("ocrbench", "ai2d_test", "hallusionbench")] == [128, 16, 128]
    for name in ("textvqa_val", "mmbench_en_dev", "mme", "mmvet", "mathvista_testmini", "ocrbench", "ai2d_test",
                 "hallusionbench"):
        kwargs = get_task(name).generation_kwargs("mgm")
        assert (kwargs["do_sample"], kwargs["num_beams"], kwargs["temperature"]) == (False, 1, 0.0), name
