"""Training data: LLaVA/MGM JSON conversations, label masking per template, collation, length grouping.

Data format (the official ``mgm_pretrain.json`` / ``mgm_instruction.json`` schema, docs/official_code.md#training-data): a JSON list
of samples ::

    {"id": "000123", "image": "coco/train2017/000000000123.jpg",          # optional: text-only without it
     "conversations": [{"from": "human", "value": "<image>\\nWhat is this?"},
                       {"from": "gpt", "value": "A cat."}, ...]}

``image`` is relative to the image folder (a list of paths is not supported: MGM trains one image per
sample). Text-only samples get zero image tensors of the right shapes, exactly as the official dataset does.

Label masking (docs/official_code.md#training-stages, the official ``preprocess_{plain,v1,gemma,llama_2,llama_3,mpt}``): the prompt is
rendered with the template, system and user turns are masked with ``IGNORE_INDEX``, the assistant answers
*and their terminator* are supervised:

============== ================================== =========================================
template       supervised per assistant turn      official preprocessor
============== ================================== =========================================
plain          ``caption + "\\n"`` (image masked)  preprocess_plain (stage 1 Vicuna/Mixtral/Yi)
vicuna_v1      ``answer + "</s>"``                preprocess_v1
gemma          ``answer + "<end_of_turn>\\n<eos>"`` preprocess_gemma
mistral_instruct ``" " + answer + " </s>"``       preprocess_llama_2
chatml_direct  ``answer + "<|im_end|>"``          preprocess_mpt
llama_3        ``answer + "<|eot_id|>"``          preprocess_llama_3
============== ================================== =========================================

The official code finds the boundaries by token-count arithmetic tuned to each tokenizer (``-2`` offsets for
the SentencePiece Llama tokenizer, ...). Here the conversation is rendered as a list of (text, supervised)
segments and each segment boundary is located in the token ids of the full prompt as the longest common
prefix with the tokenisation of the text up to that boundary. For the official tokenizers both give the same
mask; for any other tokenizer this one stays correct (a token that straddles a boundary, like Llama's
``"▁Answer"`` after ``"ASSISTANT: "``, belongs to the segment it ends in, as in the official mask).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..constants import DEFAULT_IMAGE_TOKEN as IMAGE_TOKEN
from ..constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from ..errors import TrainingInputError

HUMAN_ROLES = ("human", "user")
ASSISTANT_ROLES = ("gpt", "assistant")


@dataclass(frozen=True)
class TrainTemplate:
    """How a conversation template renders turns for training (the official ``Conversation`` fields)."""

    name: str
    system: str
    user_prefix: str        # text before a user message
    user_suffix: str        # text after a user message (before the assistant prefix)
    assistant_prefix: str   # text before an assistant message (masked: it is part of the prompt)
    assistant_suffix: str   # terminator after an assistant message (supervised)
    first_user_prefix: str | None = None  # replaces user_prefix on the first turn (llama_2's lstrip("<s>"))
    answer_lead: str = ""   # supervised text before the answer (llama_2 puts " " + answer)


# Official templates (mgm/conversation.py; docs/official_code.md#conversation-templates), expressed as prefix/suffix strings.
_VICUNA_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                  "The assistant gives helpful, detailed, and polite answers to the user's questions.")
_LLAMA3_SYSTEM = ("<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
                  "assistant. You are able to understand the visual content that the user provides, and assist "
                  "the user with a variety of tasks using natural language.")
TEMPLATES: dict[str, TrainTemplate] = {
    "vicuna_v1": TrainTemplate("vicuna_v1", _VICUNA_SYSTEM + " ", "USER: ", " ", "ASSISTANT: ", "</s>"),
    "gemma": TrainTemplate("gemma", "", "<start_of_turn>user\n", "<end_of_turn>\n",
                           "<start_of_turn>model\n", "<end_of_turn>\n<eos>"),
    "mistral_instruct": TrainTemplate("mistral_instruct", "", "<s>[INST] ", " [/INST]", "", " </s>",
                                      first_user_prefix="[INST] ", answer_lead=" "),
    "chatml_direct": TrainTemplate("chatml_direct", "<|im_start|>system\nAnswer the questions.<|im_end|>",
                                   "<|im_start|>user\n", "<|im_end|>", "<|im_start|>assistant\n", "<|im_end|>"),
    "llama_3": TrainTemplate("llama_3", _LLAMA3_SYSTEM + "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\n",
                             "<|eot_id|>", "<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"),
}
TEMPLATE_ALIASES = {"v1": "vicuna_v1", "llava_v1": "vicuna_v1", "llama_2": "mistral_instruct", "mpt": "chatml_direct"}
TEMPLATE_NAMES = ("plain", *TEMPLATES)


def resolve_template_name(name: str) -> str:
    """The canonical template name for ``name`` (accepts the official ``--version`` aliases)."""
    name = TEMPLATE_ALIASES.get(name, name)
    if name not in TEMPLATE_NAMES:
        raise TrainingInputError(f"unknown conversation template {name!r}; choose one of {list(TEMPLATE_NAMES)}")
    return name


Segment = tuple[str, bool]  # (text, supervised)


def move_image_to_front(value: str) -> str:
    """Official ``preprocess_multimodal``: drop ``<image>`` from the text and put ``"<image>\\n"`` first."""
    if IMAGE_TOKEN not in value:
        return value
    text = value.replace(IMAGE_TOKEN, "").strip()
    return (IMAGE_TOKEN + "\n" + text).strip()


def render_segments(template: str, conversations: Sequence[dict[str, str]], has_image: bool) -> list[Segment]:
    """Render one sample's turns as (text, supervised) segments in the template's training format.

    ``conversations`` is the sample's list of ``{"from": "human"|"gpt", "value": str}``; a leading
    non-human turn is skipped (as the official code does). Joining the texts gives the training prompt.
    """
    turns = _normalise_turns(conversations, has_image)
    name = resolve_template_name(template)
    if name == "plain":
        return _plain_segments(turns)
    spec = TEMPLATES[name]
    segments: list[Segment] = [(spec.system, False)] if spec.system else []
    for index in range(0, len(turns), 2):
        prefix = spec.first_user_prefix if (index == 0 and spec.first_user_prefix is not None) else spec.user_prefix
        segments.append((prefix + turns[index] + spec.user_suffix + spec.assistant_prefix, False))
        if index + 1 < len(turns):
            segments.append((spec.answer_lead + turns[index + 1] + spec.assistant_suffix, True))
    return _merge_adjacent(segments)


def _normalise_turns(conversations: Sequence[dict[str, str]], has_image: bool) -> list[str]:
    turns = list(conversations)
    if turns and turns[0].get("from") not in HUMAN_ROLES:
        turns = turns[1:]
    values = []
    for index, turn in enumerate(turns):
        expected = HUMAN_ROLES if index % 2 == 0 else ASSISTANT_ROLES
        if turn.get("from") not in expected:
            raise TrainingInputError(f"turn {index} is from {turn.get('from')!r}, expected one of {expected}: turns must "
                            "alternate human/gpt starting with human")
        value = str(turn.get("value", ""))
        if IMAGE_TOKEN in value and not has_image:
            raise TrainingInputError(f"turn {index} contains {IMAGE_TOKEN!r} but the sample has no 'image' field; "
                            "add the image path or remove the placeholder")
        values.append(move_image_to_front(value) if has_image else value)
    if not values:
        raise TrainingInputError("the sample has no human turn")
    return values


def _plain_segments(turns: list[str]) -> list[Segment]:
    if len(turns) != 2 or IMAGE_TOKEN not in turns[0]:
        raise TrainingInputError("the 'plain' (stage-1 caption) template needs exactly one human turn containing <image> "
                        "and one gpt caption")
    return [(IMAGE_TOKEN, False), (turns[1] + "\n", True)]


def _merge_adjacent(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for text, supervised in segments:
        if merged and merged[-1][1] == supervised:
            merged[-1] = (merged[-1][0] + text, supervised)
        elif text:
            merged.append((text, supervised))
    return merged


PromptEncoder = Callable[[str], list[int]]


def hf_prompt_encoder(tokenizer: Any) -> PromptEncoder:
    """Prompt -> ids with ``-200`` per ``<image>`` (docs/official_code.md#tokenisation-around-the-image-placeholder) for a plain transformers tokenizer.

    Training normally uses ``MGMProcessor.tokenize_prompt`` (the checkpoint's official tokenizer flavour);
    this is the same chunk-wise rule over ``tokenizer(text).input_ids``.
    """
    from mg_model.processing_mgm import tokenizer_image_token

    def encode(text: str) -> list[int]:
        return tokenizer_image_token(text, lambda chunk: tokenizer(chunk).input_ids, tokenizer.bos_token_id)

    return encode


def _common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    length = 0
    for x, y in zip(a, b):
        if x != y:
            break
        length += 1
    return length


def tokenize_with_labels(segments: Sequence[Segment], encode: PromptEncoder,
                         bos_token_id: int | None = None) -> tuple[list[int], list[int]]:
    """Token ids and labels (``IGNORE_INDEX`` where masked) for rendered segments.

    ``encode`` maps a prompt string to ids with ``-200`` at ``<image>`` (``MGMProcessor.tokenize_prompt``).
    Returns ``(input_ids, labels)``, both of length L. A segment's tokens are those between the boundary of the
    previous segment and its own; a boundary is where the full tokenisation stops agreeing with the
    tokenisation of the text up to it. BOS and image positions are always masked.
    """
    full_text = "".join(text for text, _ in segments)
    input_ids = encode(full_text)
    labels = [IGNORE_INDEX] * len(input_ids)
    start, prefix = 0, ""
    for index, (text, supervised) in enumerate(segments):
        prefix += text
        last = index == len(segments) - 1
        end = len(input_ids) if last else _common_prefix_length(encode(prefix), input_ids)
        if supervised:
            for position in range(start, end):
                if input_ids[position] != IMAGE_TOKEN_INDEX:
                    labels[position] = input_ids[position]
        start = max(start, end)
    if input_ids and bos_token_id is not None and input_ids[0] == bos_token_id:
        labels[0] = IGNORE_INDEX
    return input_ids, labels


def load_records(data_path: str | Path, image_folder: str | Path | None) -> list[dict[str, Any]]:
    """Read and validate a LLaVA/MGM JSON (list) or JSONL file; errors name the file, sample and field.

    Every referenced image must exist under ``image_folder`` (checked up front, before any training).
    """
    path = Path(data_path)
    if not path.is_file():
        raise TrainingInputError(f"training data file {path} does not exist")
    try:
        if path.suffix == ".jsonl":
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrainingInputError(f"{path}: not valid JSON ({exc}); expected a list of samples") from exc
    if not isinstance(records, list) or not records:
        raise TrainingInputError(f"{path}: expected a non-empty JSON list of samples with 'conversations'")
    for index, record in enumerate(records):
        _check_record(record, index, path, image_folder)
    return records


def _check_record(record: Any, index: int, path: Path, image_folder: str | Path | None) -> None:
    where = f"{path}: sample {index}" + (f" (id {record.get('id')!r})" if isinstance(record, dict) else "")
    if not isinstance(record, dict):
        raise TrainingInputError(f"{where}: must be an object with 'conversations' (and optionally 'image')")
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise TrainingInputError(f"{where}: field 'conversations' must be a non-empty list of {{from, value}}")
    for turn_index, turn in enumerate(turns):
        if not isinstance(turn, dict) or "from" not in turn or not isinstance(turn.get("value"), str):
            raise TrainingInputError(f"{where}: conversations[{turn_index}] must have 'from' and a string 'value'")
    image = record.get("image")
    if image is None:
        return
    if not isinstance(image, str):
        raise TrainingInputError(f"{where}: field 'image' must be one relative path (MGM trains one image per sample)")
    if image_folder is None:
        raise TrainingInputError(f"{where} has an image but no image folder was given; pass --image-folder")
    if not (Path(image_folder) / image).is_file():
        raise TrainingInputError(f"{where}: image {image!r} not found under {image_folder}")


def modality_lengths(records: Sequence[dict[str, Any]]) -> list[int]:
    """Official ``modality_lengths``: word count of all turns, negative for text-only samples."""
    lengths = []
    for record in records:
        words = sum(len(turn["value"].split()) for turn in record["conversations"])
        words = max(words, 1)
        lengths.append(words if record.get("image") is not None else -words)
    return lengths


class SupervisedDataset(torch.utils.data.Dataset):
    """Samples as model inputs: ``input_ids [L]``, ``labels [L]``, ``images``, ``images_aux``.

    ``encode`` is the prompt tokeniser (see :func:`tokenize_with_labels`);
    ``image_processor(pil) -> (images, images_aux)`` turns a PIL image into the LR tensor ``[3, s, s]`` (or
    ``[V, 3, s, s]`` with token extension) and the HR tensor ``[3, S, S]``; text-only samples get zeros of
    the same shapes (official behaviour). ``cache=True`` keeps every built sample in memory (small data sets
    trained for many epochs, e.g. the synthetic one; costs ``n x`` the pixel tensors' size).
    """

    def __init__(self, records: Sequence[dict[str, Any]], encode: PromptEncoder, bos_token_id: int | None,
                 template: str, image_processor: Any, image_folder: str | Path | None = None,
                 cache: bool = False) -> None:
        self.records = list(records)
        self._cache: dict[int, dict[str, torch.Tensor]] | None = {} if cache else None
        self.encode, self.bos_token_id = encode, bos_token_id
        self.template = resolve_template_name(template)
        self.image_processor = image_processor
        self.image_folder = Path(image_folder) if image_folder is not None else None
        self._zero_shapes: tuple[torch.Size, torch.Size] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sample = self._build(index)
        if self._cache is not None:
            self._cache[index] = sample
        return sample

    def _build(self, index: int) -> dict[str, torch.Tensor]:
        record = self.records[index]
        has_image = record.get("image") is not None
        try:
            segments = render_segments(self.template, record["conversations"], has_image)
        except TrainingInputError as exc:
            raise TrainingInputError(f"sample {index} (id {record.get('id')!r}): {exc}") from None
        input_ids, labels = tokenize_with_labels(segments, self.encode, self.bos_token_id)
        images, images_aux = self._pixels(record)
        return {"input_ids": torch.tensor(input_ids), "labels": torch.tensor(labels),
                "images": images, "images_aux": images_aux}

    def _pixels(self, record: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        if record.get("image") is None:
            lr_shape, hr_shape = self._zero_image_shapes()
            return torch.zeros(lr_shape), torch.zeros(hr_shape)
        assert self.image_folder is not None
        with Image.open(self.image_folder / record["image"]) as image:
            return self.image_processor(image.convert("RGB"))

    def _zero_image_shapes(self) -> tuple[torch.Size, torch.Size]:
        if self._zero_shapes is None:
            images, images_aux = self.image_processor(Image.new("RGB", (8, 8)))
            self._zero_shapes = (images.shape, images_aux.shape)
        return self._zero_shapes


def collate(samples: Sequence[dict[str, torch.Tensor]], pad_token_id: int, max_length: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of samples into a batch (official ``DataCollatorForSupervisedDataset``).

    Returns ``input_ids [B, L]`` (padded with ``pad_token_id``), ``labels [B, L]`` (padded with
    ``IGNORE_INDEX``), ``attention_mask [B, L]`` (bool), ``images [B, ...]``, ``images_aux [B, 3, S, S]``;
    L is the longest sample, cut at ``max_length``.
    """
    input_ids = torch.nn.utils.rnn.pad_sequence([s["input_ids"] for s in samples], batch_first=True,
                                                padding_value=pad_token_id)[:, :max_length]
    labels = torch.nn.utils.rnn.pad_sequence([s["labels"] for s in samples], batch_first=True,
                                             padding_value=IGNORE_INDEX)[:, :max_length]
    lengths = torch.tensor([min(len(s["input_ids"]), max_length) for s in samples])
    attention_mask = torch.arange(input_ids.shape[1])[None, :] < lengths[:, None]
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask,
            "images": torch.stack([s["images"] for s in samples]),
            "images_aux": torch.stack([s["images_aux"] for s in samples])}


# ----------------------------------------------------------------------------------------------------------
# Length-grouped sampling (official LengthGroupedSampler with group_by_modality_length)


def _split_even(indices: list[int], lengths: Sequence[int], n_chunks: int) -> list[list[int]]:
    """Split ``indices`` into ``n_chunks`` equal-size chunks with balanced total length (longest first)."""
    if len(indices) % n_chunks:
        return [indices[i::n_chunks] for i in range(n_chunks)]
    size = len(indices) // n_chunks
    chunks: list[list[int]] = [[] for _ in range(n_chunks)]
    totals = [0] * n_chunks
    for index in indices:
        open_chunks = [c for c in range(n_chunks) if len(chunks[c]) < size]
        target = min(open_chunks, key=lambda c: totals[c])
        chunks[target].append(index)
        totals[target] += abs(lengths[index])
    return chunks


def _grouped(indices: list[int], lengths: Sequence[int], megabatch: int, world_size: int,
             generator: torch.Generator) -> list[list[int]]:
    order = [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
    groups = []
    for start in range(0, len(order), megabatch):
        block = sorted(order[start:start + megabatch], key=lambda i: abs(lengths[i]), reverse=True)
        groups.append([i for chunk in _split_even(block, lengths, world_size) for i in chunk])
    return groups


def length_grouped_order(lengths: Sequence[int], batch_size: int, world_size: int, seed: int,
                         group_by_modality: bool = True) -> list[int]:
    """A permutation of ``range(len(lengths))`` in which every megabatch (``world_size * batch_size``) holds
    samples of similar length, sorted longest first and split evenly across ranks; with
    ``group_by_modality`` image and text-only samples (negative lengths) never share a megabatch, except
    the final leftover one. Megabatch order is random; the same seed gives the same order.
    """
    generator = torch.Generator().manual_seed(seed)
    megabatch = world_size * batch_size
    image_idx = [i for i, n in enumerate(lengths) if n > 0]
    text_idx = [i for i, n in enumerate(lengths) if n <= 0]
    if not group_by_modality or not image_idx or not text_idx:
        groups = _grouped(list(range(len(lengths))), lengths, megabatch, world_size, generator)
        leftovers: list[int] = []
    else:
        image_groups = _grouped(image_idx, lengths, megabatch, world_size, generator)
        text_groups = _grouped(text_idx, lengths, megabatch, world_size, generator)
        leftovers = image_groups.pop() + text_groups.pop()
        groups = image_groups + text_groups
    groups = [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
    if leftovers:
        groups.append(sorted(leftovers))
    return [i for group in groups for i in group]


class ResumableBatchSampler:
    """Per-rank batches over epochs of :func:`length_grouped_order`, with a state dict for exact resume.

    Step ``k`` of epoch ``e`` gives rank ``r`` the slice ``[k*W*B + r*B, k*W*B + (r+1)*B)`` of the epoch's
    order (W ranks, B per-device batch); an incomplete last megabatch is dropped so that all ranks step
    together. The order of epoch ``e`` is seeded by ``seed + e``.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, world_size: int = 1, rank: int = 0,
                 seed: int = 0, group_by_length: bool = True) -> None:
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise TrainingInputError(f"invalid batch_size={batch_size}, world_size={world_size}, rank={rank}")
        if len(lengths) < batch_size * world_size:
            raise TrainingInputError(f"{len(lengths)} samples are fewer than one global batch "
                                 f"({batch_size} x {world_size} ranks); lower the batch size")
        self.lengths = list(lengths)
        self.batch_size, self.world_size, self.rank = batch_size, world_size, rank
        self.seed, self.group_by_length = seed, group_by_length
        self.epoch, self.step_in_epoch = 0, 0

    @property
    def steps_per_epoch(self) -> int:
        """Number of global batches per epoch."""
        return len(self.lengths) // (self.batch_size * self.world_size)

    def _order(self, epoch: int) -> list[int]:
        if self.group_by_length:
            return length_grouped_order(self.lengths, self.batch_size, self.world_size, self.seed + epoch)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(len(self.lengths), generator=generator).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        """Yield this rank's index batches forever, continuing from the saved position."""
        while True:
            order = self._order(self.epoch)
            megabatch = self.batch_size * self.world_size
            while self.step_in_epoch < self.steps_per_epoch:
                start = self.step_in_epoch * megabatch + self.rank * self.batch_size
                self.step_in_epoch += 1
                yield order[start:start + self.batch_size]
            self.epoch, self.step_in_epoch = self.epoch + 1, 0

    def state_dict(self) -> dict[str, int]:
        """Position to resume from (epoch and global batches consumed in it)."""
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict` position."""
        self.epoch, self.step_in_epoch, self.seed = int(state["epoch"]), int(state["step_in_epoch"]), int(state["seed"])


def total_steps(n_samples: int, batch_size: int, world_size: int, grad_accum: int, epochs: float) -> int:
    """Optimizer steps for ``epochs`` passes (at least one)."""
    batches = n_samples // (batch_size * world_size)
    return max(1, math.ceil(batches * epochs / grad_accum))
