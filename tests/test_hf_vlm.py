"""The ``hf-vlm`` backend on tiny random LLaVA and Qwen2-VL models built here (no hub): every task's bundled
samples through ``mg-eval run``, greedy tokens equal at any batch size, resume after a kill, never mixed with
MGM predictions, and one error line for a model or processor it cannot use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engine_fakes import one_error_line, run_cli
from tiny_hf_vlm import build_tiny_llava, build_tiny_qwen2_vl

from mg_eval.engine import evaluate
from mg_eval.tasks import get_task, list_tasks

RUN_TAIL = ["--no-progress", "--num-workers", "0", "--max-new-tokens-cap", "3"]


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("hf") / "tiny-llava")


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("hf") / "tiny-qwen2-vl")


def _samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


SAMPLE_TASKS = [name for name in list_tasks() if get_task(name).sample_path is not None]


@pytest.mark.parametrize("model, flags, protocol, template", [
    ("tiny_llava", [], "lmms", "chat"),                 # hf-vlm's default: each benchmark's generic prompt
    ("tiny_qwen", [], "lmms", "chat"),
    pytest.param("tiny_llava", ["--protocol", "mgm", "--backend-option", "template=vicuna_v1"], "mgm", "vicuna_v1",
                 marks=pytest.mark.slow),  # ~70 s: MMMU's mgm protocol samples with 5 beams, one sample at a time
])
def test_every_task_runs_on_its_sample_data(model: str, flags: list[str], protocol: str, template: str,
                                            request: pytest.FixtureRequest, tmp_path: Path) -> None:
    folder = request.getfixturevalue(model)
    code, err = run_cli(["run", "--backend", "hf-vlm", "--model", str(folder), "--tasks", ",".join(SAMPLE_TASKS),
                      "--sample-data", "--output", str(tmp_path), *flags, *RUN_TAIL])
    assert code == 0, err
    root = tmp_path / f"{folder.name}+hf-vlm"
    for name in SAMPLE_TASKS:
        [results_file] = (root / name).glob("*/results.json")
        record = json.loads(results_file.read_text())
        assert record["protocol"] == protocol
        assert record["backend"]["name"] == "hf-vlm" and record["backend"]["options"] == {"template": template}
        assert record["model"]["name"] == f"{folder.name}+hf-vlm"
        samples = _samples(results_file.parent)
        assert len(samples) == len(get_task(name).load_sample())
        for sample in samples:  # which prompt each sample got
            assert sample["made_with"]["prompt"]["protocol"] == protocol
            assert sample["made_with"]["prompt"]["template"].startswith(
                "chat_template:" if template == "chat" else f"conversation:{template}")
            assert sample["prompt"].endswith(("ASSISTANT:", "<|im_start|>assistant\n"))


def _sample_inputs(n: int = 10) -> tuple[list, list[str]]:
    images, texts = [], []
    for name in ("textvqa_val", "mme", "pope"):
        task = get_task(name)
        for doc in task.load_sample():
            visuals = task.doc_to_visual(doc, "lmms")
            images.append(visuals[0].convert("RGB") if visuals else None)
            texts.append(task.doc_to_text(doc, "lmms"))
    images.append(None)
    texts.append("Say something without any picture.")
    return images[-n:], texts[-n:]


@pytest.mark.parametrize("model", ["tiny_llava", "tiny_qwen"])
def test_greedy_tokens_are_the_same_at_any_batch_size(model: str, request: pytest.FixtureRequest) -> None:
    from mg_eval.models.hf_vlm import HFVLMGenerator

    generator = HFVLMGenerator.from_pretrained(request.getfixturevalue(model), dtype="float32", device="cpu")
    images, texts = _sample_inputs()
    generation = {"max_new_tokens": 8, "do_sample": False, "num_beams": 1}
    answers = {}
    for size in (1, 2, 5):
        answers[size] = [answer for start in range(0, len(texts), size)
                         for answer in generator.generate(generator.prepare(images[start:start + size],
                                                                            texts[start:start + size]), generation)]
    assert answers[1] == answers[2] == answers[5]
    assert len(set(answers[1])) > 1  # the answers depend on the inputs (not a constant)


def test_a_killed_run_resumes_to_the_same_answers(tiny_qwen: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from mg_eval.models.hf_vlm import HFVLMGenerator

    task = get_task("pope")
    run = {"backend": "hf-vlm", "protocol": "lmms", "batch_size": 4, "progress": False, "num_workers": 0,
           "data_paths": {"pope": str(task.sample_path)}, "generation_overrides": {"max_new_tokens_cap": 3}}
    [whole] = evaluate(str(tiny_qwen), ["pope"], output_dir=tmp_path / "whole", **run)
    real_generate, calls = HFVLMGenerator.generate, []

    def dies_on_the_third_batch(self, batch, generation):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill: the batches before it are on disk
        return real_generate(self, batch, generation)

    monkeypatch.setattr(HFVLMGenerator, "generate", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        evaluate(str(tiny_qwen), ["pope"], output_dir=tmp_path / "killed", **run)
    monkeypatch.setattr(HFVLMGenerator, "generate", real_generate)
    [resumed] = evaluate(str(tiny_qwen), ["pope"], output_dir=tmp_path / "killed", **run)
    assert resumed.n_resumed == 3 and resumed.n_computed == 9  # ramp-up batches of 1 and 2, then 4s
    assert [s["response"] for s in _samples(resumed.run_dir)] == [s["response"] for s in _samples(whole.run_dir)]


def test_never_mixed_with_mgm_predictions(tiny_checkpoint: Path, tiny_llava: Path, tmp_path: Path) -> None:
    """An hf-vlm model in a folder of the same name as an MGM checkpoint: separate stores and results rows."""
    same_name = tmp_path / "models" / tiny_checkpoint.name
    shutil.copytree(tiny_llava, same_name)
    out = tmp_path / "out"
    args = ["--tasks", "textvqa_val", "--sample-data", "--output", str(out), *RUN_TAIL]
    assert run_cli(["run", "--model", str(tiny_checkpoint), *args])[0] == 0
    mgm_store = out / tiny_checkpoint.name / "textvqa_val" / ".store" / "mgm.jsonl"
    before = mgm_store.read_text()
    assert run_cli(["run", "--backend", "hf-vlm", "--protocol", "mgm", "--model", str(same_name), *args])[0] == 0
    assert mgm_store.read_text() == before
    hf_store = out / f"{tiny_checkpoint.name}+hf-vlm" / "textvqa_val" / ".store" / "mgm.jsonl"
    assert json.loads(hf_store.read_text().splitlines()[0])["backend"] == "hf-vlm"
    mgm_prints = {json.loads(line)["fingerprint"] for line in before.splitlines()[1:]}
    hf_prints = {json.loads(line)["fingerprint"] for line in hf_store.read_text().splitlines()[1:]}
    assert mgm_prints and hf_prints and not mgm_prints & hf_prints


def test_the_official_template_gives_llava_the_mgm_scripts_prompt(tiny_llava: Path) -> None:
    """``--protocol mgm --backend-option template=vicuna_v1``: LLaVA-1.5's prompt, as the MGM processor renders it."""
    from mg_eval.models.hf_vlm import HFVLMGenerator
    from mg_model.conversation import TEMPLATES

    generator = HFVLMGenerator.from_pretrained(tiny_llava, dtype="float32", device="cpu", template="vicuna_v1")
    text = get_task("textvqa_val").doc_to_text(get_task("textvqa_val").load_sample()[0], "mgm")
    assert generator.render_prompt(text, has_image=True) == TEMPLATES["vicuna_v1"].build_prompt(text, num_images=1)
    assert generator.info["prompt_template"] == "conversation:vicuna_v1"


@pytest.mark.parametrize("setup, flags, expect", [
    ("mgm_checkpoint", [], ["model_type 'mgm'", "--backend mgm"]),
    ("text_only", [], ["model_type 'llama'", "LlamaForCausalLM", "AutoModelForImageTextToText", "llava"]),
    ("no_chat_template", [], ["has no chat template", "LlavaProcessor", "chat_template.jinja", "template=vicuna_v1"]),
    ("llava", ["--compile"], ["--compile", "'hf-vlm'"]),
    ("llava", ["--continuous"], ["--continuous", "'hf-vlm'"]),
    ("llava", ["--backend-option", "template=nope"], ["template=nope", "vicuna_v1"]),
])
def test_a_model_it_cannot_use_is_one_error_line_before_any_sample(setup: str, flags: list[str], expect: list[str],
                                                                  tiny_checkpoint: Path, tiny_llava: Path,
                                                                  tmp_path: Path) -> None:
    folder = {"mgm_checkpoint": tiny_checkpoint, "llava": tiny_llava}.get(setup)
    if setup == "text_only":
        from transformers import LlamaConfig, LlamaForCausalLM

        folder = tmp_path / "text-llm"
        LlamaForCausalLM(LlamaConfig(**{"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                        "num_attention_heads": 2, "vocab_size": 64})).save_pretrained(str(folder))
    if setup == "no_chat_template":
        folder = build_tiny_llava(tmp_path / "llava-no-template", chat_template=False)
    code, err = run_cli(["run", "--backend", "hf-vlm", "--model", str(folder), "--tasks", "textvqa_val",
                         "--sample-data", "--output", str(tmp_path / "out"), *flags, *RUN_TAIL])
    line = one_error_line(err)
    assert code == 2
    for word in expect:
        assert word in line, line
    assert not list((tmp_path / "out").glob("*/*/.store/*.jsonl"))  # no sample was generated


@pytest.mark.slow
def test_kill_9_then_rerun_equals_an_uninterrupted_run(tiny_qwen: Path, tmp_path: Path) -> None:
    """A real ``kill -9`` of ``mg-eval run --backend hf-vlm`` mid-task, then the same command again."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    from mg_eval.engine import results, store

    common = ["run", "--backend", "hf-vlm", "--model", str(tiny_qwen), "--tasks", "pope", "--sample-data",
              "--batch-size", "1", "--num-workers", "1", "--max-new-tokens-cap", "24", "--no-progress"]
    assert run_cli([*common, "--output", str(tmp_path / "clean")])[0] == 0
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen([sys.executable, "-m", "mg_eval.cli.main", *common, "--output", str(tmp_path / "k")],
                               env=env, cwd=repo)
    task_dir = tmp_path / "k" / f"{tiny_qwen.name}+hf-vlm" / "pope"
    target, deadline = random.Random().randint(1, 9), time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if len(store.load_predictions(task_dir, "lmms")) >= target:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert run_cli([*common, "--output", str(tmp_path / "k")])[0] == 0
    assert results.read_samples(results.find_runs(tmp_path / "clean")[0]) == \
        results.read_samples(results.find_runs(tmp_path / "k")[0])
    doc_ids = [json.loads(line)["doc_id"] for line in (task_dir / ".store" / "lmms.jsonl").read_text().splitlines()[1:]]
    assert len(doc_ids) == len(set(doc_ids)) == 12
