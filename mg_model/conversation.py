"""The official MGM conversation templates (docs/official_code.md#conversation-templates), their stop conditions and template selection.

Each template renders an alternating list of messages ``[user, assistant, user, ..., None]`` (``None`` for
the turn the model is about to write) to exactly the string the official ``mgm/conversation.py`` produces.
The image placeholder ``<image>\\n`` is prepended to the first user message by the caller
(:meth:`ConversationTemplate.build_prompt` does it).

Templates, as used by the official eval scripts for each released LLM:

================  ========================  ==========================================
template          LLM                       stop
================  ========================  ==========================================
vicuna_v1         Vicuna-7B/13B v1.5        eos ``</s>``
gemma             Gemma-2B                  eos ``<eos>``; ``<end_of_turn>``
mistral_instruct  Mixtral-8x7B-Instruct     eos ``</s>``
chatml_direct     Nous-Hermes-2-Yi-34B      eos; ``<|im_end|>``
llama_3           LLaMA-3-8B-Instruct       eos + ``<|eot_id|>`` (both passed as eos ids)
plain             stage-1 (pretraining)     ``\\n``
================  ========================  ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
from .errors import MGMInputError

__all__ = [  # IMAGE_TOKEN_INDEX and MGMInputError: their former home, still importable from here
    "DEFAULT_IMAGE_TOKEN", "IMAGE_TOKEN_INDEX", "TEMPLATES", "ConversationTemplate", "MGMInputError",
    "SeparatorStyle", "get_template", "image_prefix", "select_template",
]


class SeparatorStyle(Enum):
    """How a template joins roles, messages and separators (names as in the official code)."""

    TWO = "two"
    PLAIN = "plain"
    LLAMA_2 = "llama_2"
    GEMMA = "gemma"
    MPT = "mpt"
    LLAMA_3 = "llama_3"


@dataclass(frozen=True)
class ConversationTemplate:
    """One conversation template.

    Attributes:
        name: the official conv-mode name (``vicuna_v1``, ``gemma``, ...).
        system: the system text (rendered per style).
        roles: (user role string, assistant role string).
        style: the separator style.
        sep: first separator (after the system text / user turns).
        sep2: second separator (after assistant turns) where the style uses one.
        stop_strings: strings that end a generated answer (the CLI's keyword stop).
        extra_eos_tokens: tokens whose ids the eval scripts pass as eos besides the tokenizer's eos.
    """

    name: str
    system: str
    roles: tuple[str, str]
    style: SeparatorStyle
    sep: str
    sep2: str | None
    stop_strings: tuple[str, ...]
    extra_eos_tokens: tuple[str, ...] = ()

    def render(self, messages: Sequence[str | None]) -> str:
        """Render alternating ``[user, assistant, ...]`` messages; a final ``None`` opens the answer turn.

        Args:
            messages: user/assistant messages in order, starting with the user. Only the last one may be
                ``None`` (the assistant turn to generate).

        Returns:
            The prompt string, byte-identical to the official ``Conversation.get_prompt()``.
        """
        _check_messages(self.name, messages)
        renderer = _RENDERERS[self.style]
        return renderer(self, list(messages))

    def build_prompt(
        self,
        question: str,
        *,
        num_images: int = 1,
        history: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Render a generation prompt for ``question`` with ``num_images`` ``<image>\\n`` prefixes.

        Args:
            question: the user message without any ``<image>`` placeholder.
            num_images: 0 for text-only, 1 for the usual single image. Several images follow the CLI
                convention (``Image {k}:<image>\\n`` each) when ``num_images >= 2``.
            history: earlier (user, assistant) turns; the images go into the first user message.

        Returns:
            The prompt string ending where the assistant's answer begins.
        """
        if DEFAULT_IMAGE_TOKEN in question:
            raise MGMInputError(
                f"the question already contains {DEFAULT_IMAGE_TOKEN!r}; pass the text without it "
                "(the processor adds the image placeholder itself)"
            )
        messages: list[str | None] = []
        for user, assistant in history:
            messages.extend([user, assistant])
        messages.extend([question, None])
        messages[0] = image_prefix(num_images) + str(messages[0])
        return self.render(messages)

    def eos_token_ids(self, tokenizer: Any) -> list[int]:
        """The ids that end generation for this template: the tokenizer's eos plus ``extra_eos_tokens``."""
        ids = [] if tokenizer.eos_token_id is None else [int(tokenizer.eos_token_id)]
        for token in self.extra_eos_tokens:
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is None or token_id == tokenizer.unk_token_id:
                raise MGMInputError(
                    f"template {self.name!r} ends turns with {token!r}, which the tokenizer does not know; "
                    "pick the template that matches the checkpoint's LLM"
                )
            if int(token_id) not in ids:
                ids.append(int(token_id))
        return ids


def image_prefix(num_images: int) -> str:
    """The placeholder text the official code puts before the first user message.

    One image: ``<image>\\n``. Several (CLI behaviour): ``Image 1:<image>\\nImage 2:<image>\\n...`` (no space).
    """
    if num_images < 0:
        raise MGMInputError(f"num_images must be >= 0, got {num_images}")
    if num_images <= 1:
        return (DEFAULT_IMAGE_TOKEN + "\n") * num_images
    return "".join(f"Image {k}:{DEFAULT_IMAGE_TOKEN}\n" for k in range(1, num_images + 1))


def _check_messages(name: str, messages: Sequence[str | None]) -> None:
    if not messages:
        raise MGMInputError(f"template {name!r}: no messages to render")
    if messages[0] is None:
        raise MGMInputError(f"template {name!r}: the first message must be the user's text, got None")
    if any(message is None for message in messages[:-1]):
        raise MGMInputError(f"template {name!r}: only the last message may be None (the turn to generate)")


def _render_two(t: ConversationTemplate, messages: list[str | None]) -> str:
    seps = (t.sep, t.sep2 or "")
    out = t.system + seps[0]
    for i, message in enumerate(messages):
        role = t.roles[i % 2]
        out += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return out


def _render_plain(t: ConversationTemplate, messages: list[str | None]) -> str:
    seps = (t.sep, t.sep2 if t.sep2 is not None else t.sep)
    out = t.system
    for i, message in enumerate(messages):
        if message:
            out += message + seps[i % 2]
    return out


def _render_llama_2(t: ConversationTemplate, messages: list[str | None]) -> str:
    out = ""
    for i, message in enumerate(messages):
        if not message:
            continue
        if i == 0 and t.system:
            message = f"<<SYS>>\n{t.system}\n<</SYS>>\n\n" + message
        if i % 2 == 0:
            out += t.sep + f"[INST] {message} [/INST]"
        else:
            out += f" {message} {t.sep2}"
    # The official code strips with str.lstrip(sep): a character set, not a prefix (docs/official_code.md#known-quirks (item 9)).
    return out.lstrip(t.sep)


def _render_role_message(t: ConversationTemplate, messages: list[str | None], prefix: str) -> str:
    out = prefix
    for i, message in enumerate(messages):
        role = t.roles[i % 2]
        out += role + message + t.sep if message else role
    return out


def _render_gemma(t: ConversationTemplate, messages: list[str | None]) -> str:
    seps = (t.sep, t.sep2 or "")
    out = t.system + seps[0]
    for i, message in enumerate(messages):
        header = f"<start_of_turn>{t.roles[i % 2]}\n"
        out += f"{header}{message}<end_of_turn>\n{seps[i % 2]}" if message else header
    return out


def _render_mpt(t: ConversationTemplate, messages: list[str | None]) -> str:
    return _render_role_message(t, messages, prefix=t.system + t.sep)


def _render_llama_3(t: ConversationTemplate, messages: list[str | None]) -> str:
    header = "<|start_header_id|>system<|end_header_id|>\n\n"
    return _render_role_message(t, messages, prefix=header + t.system + t.sep)


_RENDERERS = {
    SeparatorStyle.TWO: _render_two,
    SeparatorStyle.PLAIN: _render_plain,
    SeparatorStyle.LLAMA_2: _render_llama_2,
    SeparatorStyle.GEMMA: _render_gemma,
    SeparatorStyle.MPT: _render_mpt,
    SeparatorStyle.LLAMA_3: _render_llama_3,
}

TEMPLATES: dict[str, ConversationTemplate] = {
    "vicuna_v1": ConversationTemplate(
        name="vicuna_v1",
        system=(
            "A chat between a curious user and an artificial intelligence assistant. "
            "The assistant gives helpful, detailed, and polite answers to the user's questions."
        ),
        roles=("USER", "ASSISTANT"),
        style=SeparatorStyle.TWO,
        sep=" ",
        sep2="</s>",
        stop_strings=("</s>",),
    ),
    "gemma": ConversationTemplate(
        name="gemma",
        system="",
        roles=("user", "model"),
        style=SeparatorStyle.GEMMA,
        sep="",
        sep2="<eos>",
        stop_strings=("<end_of_turn>",),
    ),
    "mistral_instruct": ConversationTemplate(
        name="mistral_instruct",
        system="",
        roles=("USER", "ASSISTANT"),
        style=SeparatorStyle.LLAMA_2,
        sep="<s>",
        sep2="</s>",
        stop_strings=("</s>",),
    ),
    "chatml_direct": ConversationTemplate(
        name="chatml_direct",
        system="<|im_start|>system\nAnswer the questions.",
        roles=("<|im_start|>user\n", "<|im_start|>assistant\n"),
        style=SeparatorStyle.MPT,
        sep="<|im_end|>",
        sep2=None,
        stop_strings=("<|im_end|>",),
    ),
    "llama_3": ConversationTemplate(
        name="llama_3",
        system=(
            "You are a helpful language and vision assistant. You are able to understand the visual content "
            "that the user provides, and assist the user with a variety of tasks using natural language."
        ),
        roles=(
            "<|start_header_id|>user<|end_header_id|>\n\n",
            # The official template really uses "system" as the assistant header (docs/official_code.md#conversation-templates).
            "<|start_header_id|>system<|end_header_id|>\n\n",
        ),
        style=SeparatorStyle.LLAMA_3,
        sep="<|eot_id|>",
        sep2=None,
        stop_strings=("<|eot_id|>",),
        extra_eos_tokens=("<|eot_id|>",),
    ),
    "plain": ConversationTemplate(
        name="plain",
        system="",
        roles=("", ""),
        style=SeparatorStyle.PLAIN,
        sep="\n",
        sep2=None,
        stop_strings=("\n",),
    ),
}


def get_template(name: str) -> ConversationTemplate:
    """Return the template called ``name``; an unknown name raises listing the known ones."""
    if name not in TEMPLATES:
        raise MGMInputError(f"unknown conversation template {name!r}; choose one of {sorted(TEMPLATES)}")
    return TEMPLATES[name]


_TEMPLATE_OF_MODEL_TYPE = {"mgm_gemma": "gemma", "mgm_mixtral": "mistral_instruct", "mgm_mistral": "mistral_instruct"}


def select_template(config: dict[str, Any], tokenizer: Any, override: str | None = None) -> ConversationTemplate:
    """Choose the template of a checkpoint from its config and tokenizer (never from a directory name).

    Rules, first match wins:
      1. ``override`` (an explicit template name);
      2. ``model_type`` ``mgm_gemma`` -> ``gemma``; ``mgm_mixtral`` / ``mgm_mistral`` -> ``mistral_instruct``;
      3. ``model_type`` ``mgm`` (LLaMA family): a LLaMA-3 tokenizer (BOS ``<|begin_of_text|>``) ->
         ``llama_3``; a Yi / ChatML tokenizer (BOS ``<|startoftext|>`` or EOS ``<|im_end|>``) ->
         ``chatml_direct``; otherwise ``vicuna_v1``.

    Args:
        config: the checkpoint's config.json as a dict.
        tokenizer: the checkpoint's tokenizer (reads ``bos_token`` / ``eos_token``).
        override: a template name that wins over the rules.
    """
    if override is not None:
        return get_template(override)
    model_type = config.get("model_type", "mgm")
    if model_type in _TEMPLATE_OF_MODEL_TYPE:
        return get_template(_TEMPLATE_OF_MODEL_TYPE[model_type])
    if model_type != "mgm":
        raise MGMInputError(
            f"config model_type={model_type!r} is not an MGM type (mgm, mgm_gemma, mgm_mixtral, mgm_mistral); "
            "pass template=... explicitly or fix config.json"
        )
    bos, eos = str(tokenizer.bos_token), str(tokenizer.eos_token)
    if bos == "<|begin_of_text|>":
        return get_template("llama_3")
    if bos == "<|startoftext|>" or eos == "<|im_end|>":
        return get_template("chatml_direct")
    return get_template("vicuna_v1")
