"""The local transformers judge on a tiny random-init Llama saved to a temporary directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from mg_eval.errors import JudgeError, UserInputError
from mg_eval.judges import CachedJudge, build_judge
from mg_eval.judges.local import LocalJudge
from mg_eval.tasks import benchmark_module

mmvet = benchmark_module("mmvet", "scorer")

TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "mg_model" / "assets" / "tiny_tokenizer"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _save_tiny_llama(path: Path, *, chat_template: str | None) -> Path:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    if chat_template:
        tokenizer.chat_template = chat_template
    tokenizer.save_pretrained(str(path))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert (TOKENIZER_DIR / "tokenizer.json").is_file(), "mg_model/assets/tiny_tokenizer ships with the package"
    plain = _save_tiny_llama(tmp_path_factory.mktemp("plain"), chat_template=None)
    chat = tmp_path_factory.mktemp("chat")
    shutil.copytree(plain, chat, dirs_exist_ok=True)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(plain))
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(chat))
    return {"plain": plain, "chat": chat}


@pytest.fixture(scope="module")
def plain_judge(model_dirs: dict[str, Path]) -> LocalJudge:
    return LocalJudge(model_dirs["plain"])


def test_greedy_is_deterministic_and_bounded(plain_judge: LocalJudge) -> None:
    first = plain_judge.complete("Question | Ground truth | Prediction | ", max_tokens=3)
    second = plain_judge.complete("Question | Ground truth | Prediction | ", max_tokens=3)
    assert isinstance(first, str) and first == second
    stats = plain_judge.stats.to_dict()
    assert stats["requests"] == 2 and stats["calls"] == 2 and stats["failures"] == 0
    assert 0 < stats["completion_tokens"] <= 6 and stats["prompt_tokens"] > 0
    assert plain_judge.name == f"local:{plain_judge.path}"


def test_without_chat_template_the_prompt_is_fed_raw(plain_judge: LocalJudge) -> None:
    ids = plain_judge._encode("Is it right?", system="You grade answers.")[0].tolist()
    assert ids == plain_judge.tokenizer("You grade answers.\n\nIs it right?")["input_ids"]


def test_chat_template_is_used_when_present(model_dirs: dict[str, Path]) -> None:
    judge = LocalJudge(model_dirs["chat"])
    ids = judge._encode("Is it right?", system="You grade answers.")[0].tolist()
    rendered = judge.tokenizer.decode(ids)
    assert "<|im_start|>system\nYou grade answers.<|im_end|>" in rendered
    assert rendered.endswith("<|im_start|>user\nIs it right?<|im_end|>\n<|im_start|>assistant\n")
    assert judge.describe()["chat_template"] is True
    assert isinstance(judge.complete("Is it right?", max_tokens=2), str)


def test_sampling_is_reproducible_and_leaves_global_rng_alone(plain_judge: LocalJudge) -> None:
    state = torch.get_rng_state()
    a = plain_judge.complete("grade this", max_tokens=4, temperature=1.5)
    b = plain_judge.complete("grade this", max_tokens=4, temperature=1.5)
    assert a == b
    assert torch.equal(state, torch.get_rng_state())


def test_prompt_too_long_is_a_counted_failure(model_dirs: dict[str, Path]) -> None:
    judge = LocalJudge(model_dirs["plain"], max_input_tokens=8)
    with pytest.raises(JudgeError, match="more than 8"):
        judge.complete("a rather long prompt that has far more than eight tokens in it", max_tokens=3)
    assert judge.stats.failures == 1


def test_bad_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no config.json"):
        build_judge(f"local:{tmp_path / 'missing'}", use_cache=False)


def test_cached_local_judge_drives_the_mmvet_grader(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    spec = f"local:{model_dirs['plain']}"
    judge = build_judge(spec, cache_dir=tmp_path)
    assert isinstance(judge, CachedJudge) and judge.name == spec
    grade = mmvet.grade_sample(judge, "What is 2+2?", "4", "four")
    assert 0.0 <= grade.score <= 1.0 and 1 <= grade.n_calls <= 6
    assert judge.stats.misses == judge.stats.calls == grade.n_calls
    again = build_judge(spec, cache_dir=tmp_path)  # re-scoring: no generation at all
    assert mmvet.grade_sample(again, "What is 2+2?", "4", "four") == grade
    assert again.stats.calls == 0 and again.stats.hits == grade.n_calls
