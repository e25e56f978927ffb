"""Ablation specs: a table of the paper as data, one row per trained model.

An ablation spec (``ablations/<name>.yaml``) lists rows. Each row is a label, a *delta* on a named base
model variant (``base: mgm-7b``), the checkpoint directory that holds the trained model, and the paper's
numbers for that row. The delta is exactly what training builds: a mapping of :class:`MGMConfig` keys
(``image_size_aux``, ``image_grid``, ``image_global``, ``mm_vision_tower``, ``mm_vision_tower_aux``, ...)
plus the pseudo-key ``mining: false`` meaning "no HR encoder, no patch info mining" (LLaVA-1.5 style).
Deltas are **absolute with respect to the base**, never cumulative over rows, so one row alone says how
to build its model. Rows may also name the stage-2 instruction-data mixture (``data:``) where the
ablation varies the data.

Format (every key below is checked; an unknown key is an error)::

    name: info_mining                      # identifier (file stem by convention)
    title: Encoder and resolution ablation
    source: Mini-Gemini (arXiv 2403.18814), Table 3; mg_eval/analysis/reference/paper_ablation_info_mining.csv
    base: mgm-7b                            # base variant the deltas apply to
    protocol: mgm                           # evaluation protocol ("mgm" | "lmms"), default mgm
    setting_columns:                        # descriptive columns of the paper's layout
      - {key: lr, header: LR}
    metrics:                                # score columns, in the paper's order
      - {key: textvqa, header: TextVQA, task: textvqa_val, score: accuracy}
    rows:
      - id: lr224_baseline                  # stable id (checkpoint folder, results folder)
        label: Baseline                     # as printed in the paper
        section: LR 224                     # Δ is taken to the previous row of the same section
        compare_to: null                    # optional: a row id to take Δ to instead (null: no Δ)
        setting: {lr: 224}
        delta: {mm_vision_tower: ..., mining: false}
        data: [llava_665k]                  # optional, full stage-2 mixture of this row
        checkpoint: checkpoints/ablations/info_mining/lr224_baseline
        paper: {textvqa: "54.1*", mme: 1467.1, mmvet: 30.7}   # null = not given / not legible
        note: free text

Public API: :func:`load_spec`, :class:`AblationSpec`, :class:`AblationRow`, :class:`MetricColumn`,
:class:`PaperValue`, :func:`mgm_config_keys`, :data:`DATA_SOURCES`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mg_eval.ablation.seeds import Criterion, expand_rows, parse_criterion, parse_seeds, row_seeds
from mg_eval.api import PROTOCOLS
from mg_eval.errors import UserInputError

MINING_KEY = "mining"

# MGMConfig keys from the official code (docs/official_code.md#config-keys). Used only when mg_model cannot be imported;
# otherwise mg_model.configuration_mgm.MGM_DEFAULTS is the authority (see mgm_config_keys()).
_FALLBACK_MGM_KEYS = frozenset({
    "mm_vision_tower", "mm_vision_tower_aux", "mm_hidden_size", "mm_hidden_size_aux", "mm_projector_type",
    "use_mm_proj", "mm_vision_select_layer", "mm_vision_select_feature", "image_size_aux",
    "optimize_vision_tower", "optimize_vision_tower_aux", "image_grid", "image_global", "image_aspect_ratio",
    "image_grid_pinpoints", "tokenizer_padding_side", "tokenizer_model_max_length", "tune_mm_mlp_adapter",
    "freeze_mm_mlp_adapter", "mm_use_im_start_end", "mm_use_im_patch_token", "mm_projector_lr",
})

# Stage-2 instruction-data components a row's `data:` list may name (docs/official_code.md#training-data and the paper's Table 4).
DATA_SOURCES: dict[str, str] = {
    "llava_665k": "LLaVA-1.5 instruction mix (665K; COCO, GQA, OCR-VQA, VisualGenome, TextVQA-free), without TextCaps",
    "textcaps": "TextCaps captions (part of the LLaVA-1.5 mix; removed in the paper's row '- TextCaps')",
    "sharegpt4v": "ShareGPT4V-100K (sam, share_textvqa, wikiart, web-celebrity, web-landmark)",
    "laion_gpt4v": "LAION-GPT-4V (~10K)",
    "ocr": "OCR-related data: DocVQA, ChartQA, DVQA, AI2D (~28K)",
    "generation": "generation-related instructions (mgm_generation_pure_text, ~13K)",
    "allava": "ALLaVA-4V instructions plus the text-only data",
}

_SPEC_KEYS = {"name", "title", "source", "base", "protocol", "setting_columns", "metrics", "rows", "note", "seeds",
              "criterion"}
_REQUIRED_SPEC_KEYS = ("name", "base", "metrics", "rows")
_ROW_KEYS = {"id", "label", "section", "compare_to", "setting", "delta", "data", "checkpoint", "paper", "note", "seeds"}
_METRIC_KEYS = {"key", "header", "task", "score", "decimals"}
_SETTING_COLUMN_KEYS = {"key", "header"}
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PAPER_MARKS = "*†"


@dataclass(frozen=True)
class MetricColumn:
    """One score column: ``score`` key of task ``task``'s results.json, headed ``header``."""

    key: str
    header: str
    task: str
    score: str
    decimals: int = 1


@dataclass(frozen=True)
class SettingColumn:
    """A descriptive column of the paper's layout (e.g. VE-HR, LR, HR, token count)."""

    key: str
    header: str


@dataclass(frozen=True)
class PaperValue:
    """A number as printed in the paper. ``value`` is None where the paper gives none or it is illegible.

    ``mark`` keeps the paper's footnote mark (``*``: the dataset's training images were observed).
    """

    value: float | None
    mark: str = ""

    def text(self, decimals: int = 1) -> str:
        """The value as printed, e.g. ``'58.1*'``, or ``''`` when absent."""
        return "" if self.value is None else f"{self.value:.{decimals}f}{self.mark}"


@dataclass(frozen=True)
class AblationRow:
    """One row of an ablation table (see the module docstring for the YAML form)."""

    id: str
    label: str
    checkpoint: str
    delta: Mapping[str, Any] = field(default_factory=dict)
    section: str = ""
    compare_to: str | None = None
    compare_explicit: bool = False
    setting: Mapping[str, str] = field(default_factory=dict)
    data: tuple[str, ...] | None = None
    paper: Mapping[str, PaperValue] = field(default_factory=dict)
    note: str = ""
    seed: int | None = None        # training seed (rows of a spec with ``seeds``; see mg_eval.ablation.seeds)
    arm: str = ""                  # the row id as written, before the per-seed expansion

    @property
    def arm_id(self) -> str:
        """The row id before the per-seed expansion (the id itself for a spec without seeds)."""
        return self.arm or self.id

    @property
    def mining(self) -> bool:
        """Whether patch info mining (HR encoder + mining modules) is on for this row (default: on)."""
        return bool(self.delta.get(MINING_KEY, True))

    def config_overrides(self) -> dict[str, Any]:
        """The MGMConfig keys to set on the base variant's config (the delta without ``mining``)."""
        return {key: value for key, value in self.delta.items() if key != MINING_KEY}

    def checkpoint_path(self, root: str | Path | None = None) -> Path:
        """The checkpoint directory; a relative path is taken relative to ``root`` (default: cwd)."""
        path = Path(self.checkpoint).expanduser()
        if not path.is_absolute() and root is not None:
            path = Path(root) / path
        return path

    def checkpoint_exists(self, root: str | Path | None = None) -> bool:
        """True when the checkpoint directory holds a ``config.json`` (a saved model)."""
        return (self.checkpoint_path(root) / "config.json").is_file()


@dataclass(frozen=True)
class AblationSpec:
    """A loaded, validated ablation spec."""

    name: str
    base: str
    metrics: tuple[MetricColumn, ...]
    rows: tuple[AblationRow, ...]
    title: str = ""
    source: str = ""
    protocol: str = "mgm"
    setting_columns: tuple[SettingColumn, ...] = ()
    note: str = ""
    path: Path | None = None
    seeds: tuple[int, ...] = ()
    criterion: Criterion | None = None

    @property
    def tasks(self) -> list[str]:
        """The distinct task names the metric columns need, in column order."""
        return list(dict.fromkeys(metric.task for metric in self.metrics))

    def row(self, row_id: str) -> AblationRow:
        """The row with id ``row_id`` (UserInputError listing the ids when absent)."""
        for row in self.rows:
            if row.id == row_id:
                return row
        raise UserInputError(f"{self._where()}: no row with id {row_id!r}; rows: {[r.id for r in self.rows]}")

    def select(self, ids: list[str] | None) -> list[AblationRow]:
        """Rows by id; an id as written in a spec with ``seeds`` (e.g. ``mining``) selects all its seeds."""
        if not ids:
            return list(self.rows)
        selected: list[AblationRow] = []
        for name in ids:
            matches = [row for row in self.rows if name in (row.id, row.arm)] or [self.row(name)]
            selected += [row for row in matches if row not in selected]
        return selected

    def reference_row(self, row: AblationRow) -> AblationRow | None:
        """The row ``row``'s Δ is taken to: ``compare_to`` if given, else the previous row of its section."""
        if row.compare_explicit:
            return None if row.compare_to is None else self.row(row.compare_to)
        index = self.rows.index(row)
        if index == 0 or self.rows[index - 1].section != row.section:
            return None
        return self.rows[index - 1]

    def _where(self) -> str:
        return str(self.path) if self.path else f"ablation spec {self.name!r}"


def mgm_config_keys() -> frozenset[str]:
    """The keys a row's delta may set: the MGM keys of ``mg_model``'s MGMConfig (docs/official_code.md#config-keys + encoder overrides).

    Falls back to the keys of docs/official_code.md#config-keys when ``mg_model`` cannot be imported.
    """
    try:
        from mg_model.configuration_mgm import MGM_DEFAULTS  # local import: mg_model pulls in transformers
    except ImportError:
        return _FALLBACK_MGM_KEYS
    return frozenset(MGM_DEFAULTS)


def load_spec(path: str | Path) -> AblationSpec:
    """Load and validate ``path`` (YAML). Every error names the file, the row and the field, and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"ablation spec {path} does not exist; specs live in ablations/*.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: not valid YAML: {exc}") from exc
    return parse_spec(raw, where=str(path), path=path)


def parse_spec(raw: Any, where: str = "ablation spec", path: Path | None = None) -> AblationSpec:
    """Validate a spec mapping (as loaded from YAML) and build the typed :class:`AblationSpec`."""
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{where}: the top level must be a mapping with keys {sorted(_SPEC_KEYS)}")
    _check_keys(raw, _SPEC_KEYS, where)
    for key in _REQUIRED_SPEC_KEYS:
        if key not in raw:
            raise UserInputError(f"{where}: missing required key {key!r}")
    protocol = str(raw.get("protocol", "mgm"))
    if protocol not in PROTOCOLS:
        raise UserInputError(f"{where}: protocol {protocol!r} is not one of {list(PROTOCOLS)}")
    metrics = _parse_metrics(raw["metrics"], where)
    setting_columns = _parse_setting_columns(raw.get("setting_columns") or [], where)
    seeds = parse_seeds(raw.get("seeds"), where)
    rows = _parse_rows(raw["rows"], where, metrics, setting_columns)
    criterion = parse_criterion(raw.get("criterion"), where, [r.id for r in rows], [m.key for m in metrics], seeds)
    if seeds:
        rows = expand_rows(rows, [row_seeds(item, seeds, f"{where}: rows[{i}]") for i, item in enumerate(raw["rows"])],
                           where)
    spec = AblationSpec(
        name=_identifier(raw["name"], f"{where}: name"), base=_check_base(str(raw["base"]), where), metrics=metrics, rows=rows,
        title=str(raw.get("title") or ""), source=str(raw.get("source") or ""), protocol=protocol,
        setting_columns=setting_columns, note=str(raw.get("note") or ""), path=path, seeds=seeds, criterion=criterion,
    )
    for row in rows:
        if row.compare_to is not None and row.compare_to not in {r.id for r in rows}:
            raise UserInputError(f"{where}: row {row.id!r}: compare_to {row.compare_to!r} is not a row id")
    return spec


def _check_base(base: str, where: str) -> str:
    """The base must be a variant of mg_model (checked when mg_model is importable)."""
    try:
        from mg_model import variant_names  # local import: mg_model pulls in transformers
    except ImportError:
        return base
    names = list(variant_names())
    if base not in names:
        close = difflib.get_close_matches(base, names, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise UserInputError(f"{where}: base {base!r} is not a model variant{hint}; variants: {names}")
    return base


def _check_keys(mapping: Mapping[str, Any], allowed: set[str] | frozenset[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise UserInputError(f"{where}: unknown key {key!r}{hint}; allowed keys: {sorted(allowed)}")


def _identifier(value: Any, where: str) -> str:
    text = str(value) if value is not None else ""
    if not _ID_PATTERN.match(text):
        raise UserInputError(f"{where}: {value!r} is not a valid id (letters, digits, '_', '-', '.')")
    return text


def _parse_metrics(raw: Any, where: str) -> tuple[MetricColumn, ...]:
    if not isinstance(raw, list) or not raw:
        raise UserInputError(f"{where}: 'metrics' must be a non-empty list of {{key, header, task, score}}")
    metrics = []
    for i, item in enumerate(raw):
        item_where = f"{where}: metrics[{i}]"
        if not isinstance(item, Mapping):
            raise UserInputError(f"{item_where}: must be a mapping with keys {sorted(_METRIC_KEYS)}")
        _check_keys(item, _METRIC_KEYS, item_where)
        for key in ("key", "task", "score"):
            if not item.get(key):
                raise UserInputError(f"{item_where}: missing {key!r}")
        metrics.append(MetricColumn(
            key=_identifier(item["key"], f"{item_where}.key"), header=str(item.get("header") or item["key"]),
            task=str(item["task"]), score=str(item["score"]), decimals=int(item.get("decimals", 1)),
        ))
    _check_unique([m.key for m in metrics], f"{where}: metrics")
    return tuple(metrics)


def _parse_setting_columns(raw: Any, where: str) -> tuple[SettingColumn, ...]:
    if not isinstance(raw, list):
        raise UserInputError(f"{where}: 'setting_columns' must be a list of {{key, header}}")
    columns = []
    for i, item in enumerate(raw):
        item_where = f"{where}: setting_columns[{i}]"
        if not isinstance(item, Mapping) or "key" not in item:
            raise UserInputError(f"{item_where}: must be a mapping with keys {sorted(_SETTING_COLUMN_KEYS)}")
        _check_keys(item, _SETTING_COLUMN_KEYS, item_where)
        columns.append(SettingColumn(key=str(item["key"]), header=str(item.get("header") or item["key"])))
    _check_unique([c.key for c in columns], f"{where}: setting_columns")
    return tuple(columns)


def _parse_rows(raw: Any, where: str, metrics: tuple[MetricColumn, ...],
                setting_columns: tuple[SettingColumn, ...]) -> tuple[AblationRow, ...]:
    if not isinstance(raw, list) or not raw:
        raise UserInputError(f"{where}: 'rows' must be a non-empty list")
    allowed_delta = mgm_config_keys() | {MINING_KEY}
    rows = [_parse_row(item, i, where, metrics, setting_columns, allowed_delta) for i, item in enumerate(raw)]
    _check_unique([row.id for row in rows], f"{where}: row ids")
    return tuple(rows)


def _parse_row(item: Any, index: int, where: str, metrics: tuple[MetricColumn, ...],
               setting_columns: tuple[SettingColumn, ...], allowed_delta: frozenset[str]) -> AblationRow:
    row_where = f"{where}: rows[{index}]"
    if not isinstance(item, Mapping):
        raise UserInputError(f"{row_where}: must be a mapping with keys {sorted(_ROW_KEYS)}")
    _check_keys(item, _ROW_KEYS, row_where)
    if not item.get("label"):
        raise UserInputError(f"{row_where}: missing 'label' (the row's name as printed in the paper)")
    if "id" not in item:
        raise UserInputError(f"{row_where} ({item['label']!r}): missing 'id' (a stable folder-safe name)")
    row_id = _identifier(item["id"], f"{row_where}.id")
    row_where = f"{where}: row {row_id!r}"
    if not item.get("checkpoint"):
        raise UserInputError(f"{row_where}: missing 'checkpoint' (the directory that holds or will hold it)")
    return AblationRow(
        id=row_id, label=str(item["label"]), checkpoint=str(item["checkpoint"]),
        delta=_parse_delta(item.get("delta") or {}, row_where, allowed_delta),
        section=str(item.get("section") or ""),
        compare_to=None if item.get("compare_to") is None else str(item["compare_to"]),
        compare_explicit="compare_to" in item,
        setting=_parse_setting(item.get("setting") or {}, row_where, setting_columns),
        data=_parse_data(item.get("data"), row_where),
        paper=_parse_paper(item.get("paper") or {}, row_where, metrics),
        note=str(item.get("note") or ""),
    )


def _parse_delta(raw: Any, where: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{where}: 'delta' must be a mapping of MGMConfig keys to values")
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UserInputError(
                f"{where}: delta key {key!r} is not an MGMConfig key (nor '{MINING_KEY}'){hint} "
                "A delta sets model-config fields of the base variant only."
            )
    if MINING_KEY in raw and not isinstance(raw[MINING_KEY], bool):
        raise UserInputError(f"{where}: delta.{MINING_KEY} must be true or false, got {raw[MINING_KEY]!r}")
    return dict(raw)


def _parse_setting(raw: Any, where: str, columns: tuple[SettingColumn, ...]) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{where}: 'setting' must be a mapping of setting column keys to values")
    _check_keys(raw, {c.key for c in columns}, f"{where}: setting")
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _parse_data(raw: Any, where: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise UserInputError(f"{where}: 'data' must be a list of data-source names from {sorted(DATA_SOURCES)}")
    for name in raw:
        if name not in DATA_SOURCES:
            raise UserInputError(f"{where}: unknown data source {name!r}; known: {sorted(DATA_SOURCES)}")
    return tuple(raw)


def _parse_paper(raw: Any, where: str, metrics: tuple[MetricColumn, ...]) -> dict[str, PaperValue]:
    if not isinstance(raw, Mapping):
        raise UserInputError(f"{where}: 'paper' must be a mapping of metric keys to numbers (null if absent)")
    _check_keys(raw, {m.key for m in metrics}, f"{where}: paper")
    return {str(key): parse_paper_value(value, f"{where}: paper.{key}") for key, value in raw.items()}


def parse_paper_value(value: Any, where: str = "paper value") -> PaperValue:
    """Parse a printed number: ``58.1``, ``"58.1*"``, ``"63.8*"``, ``None``/``""`` (not given)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return PaperValue(None)
    if isinstance(value, bool):
        raise UserInputError(f"{where}: {value!r} is not a number")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise UserInputError(f"{where}: {value!r} is not a finite number")
        return PaperValue(float(value))
    text = str(value).strip()
    mark = "".join(ch for ch in text if ch in _PAPER_MARKS)
    number = text.rstrip(_PAPER_MARKS)
    try:
        return PaperValue(float(number), mark)
    except ValueError:
        raise UserInputError(f"{where}: {value!r} is not a number (optionally followed by '*' or '†')") from None


def _check_unique(values: list[str], where: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise UserInputError(f"{where}: {value!r} appears twice; ids must be unique")
        seen.add(value)
