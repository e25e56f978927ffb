"""Data loading for tasks: the hub dataset at a pinned revision, local HF copies, and official files.

Every loader returns docs in the benchmark's **HF schema** (the columns of the dataset the YAML names),
with image columns holding :class:`ImageRef` objects that decode lazily (the engine decodes in its
DataLoader workers). ``load_docs`` checks the schema before returning: a missing field, a missing or
unreadable image, or a wrong split raises :class:`~mg_eval.errors.DataError` naming the file, the row
and the fix.

Accepted ``data_path`` forms:

* a ``datasets.save_to_disk`` folder (``Dataset`` or ``DatasetDict``);
* a folder (or single file) of ``.parquet`` / ``.arrow`` files in the HF layout
  (``<split>-00000-of-00001.parquet``, optionally one sub-folder per config, as ``MMMU/MMMU``);
* the benchmark's official files, read by the task's ``official_format`` (``tasks/<b>/official_data.py``).

A task whose docs follow its official files' schema (the VLMEvalKit tsv benchmarks) names ``hub_format``: the
hub dataset's rows, and local copies in the hub layout, go through it into that schema.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from mg_eval.errors import DataError

if TYPE_CHECKING:
    from mg_eval.tasks.config import TaskConfig

__all__ = ["ImageRef", "Row", "data_fingerprint", "load_docs", "open_image"]

#: A raw record and where it came from ("file:row 12"), for error messages.
Row = tuple[dict[str, Any], str]


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """An undecoded image: a file path, raw bytes, base64 text, or a row of an arrow-backed dataset.

    ``where`` names the file and row for error messages. ``open()`` decodes (RGB, PIL).
    """

    where: str
    path: str | None = None
    data: bytes | None = None
    b64: str | None = None
    # datasets.Dataset with the image column cast to Image(decode=False); (where, row, column) identify it
    dataset: Any = dataclasses.field(default=None, compare=False, repr=False)
    row: int = -1
    column: str = ""

    def read_bytes(self) -> bytes:
        """The encoded image bytes.

        Raises:
            DataError: the file is missing, the base64 is invalid, or the row holds no image.
        """
        if self.data is not None:
            return self.data
        if self.path is not None:
            try:
                return Path(self.path).read_bytes()
            except OSError as exc:
                raise DataError(f"{self.where}: image file {self.path} cannot be read ({exc}); "
                                f"check the image folder next to the annotation file.") from exc
        if self.b64 is not None:
            try:
                return base64.b64decode(self.b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DataError(f"{self.where}: the base64 image is not valid base64 ({exc}); "
                                f"re-download the benchmark file.") from exc
        if self.dataset is not None:
            value = self.dataset[self.row][self.column]
            if value and value.get("bytes"):
                return value["bytes"]
            if value and value.get("path") and Path(value["path"]).is_file():
                return Path(value["path"]).read_bytes()
        raise DataError(f"{self.where}: no image data; re-download the dataset.")

    def check(self) -> None:
        """Cheap integrity check (read the bytes, parse the header, verify the container).

        Raises:
            DataError: the image is missing, too large for PIL's decompression-bomb limit, or cannot be
                identified as an image.
        """
        data = self.read_bytes()
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
        except _IMAGE_ERRORS as exc:
            raise DataError(f"{self.where}: the image is unreadable or corrupted ({_reason(exc, self.path)}); "
                            f"replace the file or re-download the dataset.") from None

    def open(self) -> Image.Image:
        """Decode to an RGB PIL image.

        Raises:
            DataError: the image cannot be decoded (e.g. a truncated file that passed ``check``).
        """
        try:
            with Image.open(io.BytesIO(self.read_bytes())) as img:
                return img.convert("RGB")
        except _IMAGE_ERRORS as exc:
            raise DataError(f"{self.where}: the image cannot be decoded ({_reason(exc, self.path)}); replace the "
                            "file.") from None


#: What PIL raises on bad image data (DecompressionBombError: more than 2x Image.MAX_IMAGE_PIXELS pixels).
_IMAGE_ERRORS = (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError)
_BYTES_IO_REPR = re.compile(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException, path: str | None) -> str:
    """PIL's message with the image file (``path``) instead of the ``<_io.BytesIO object at 0x...>`` it names."""
    text = str(exc)
    if isinstance(exc, Image.DecompressionBombError):
        text = (f"{text.rstrip('.')}: images of more than {2 * Image.MAX_IMAGE_PIXELS} pixels are refused; "
                "downscale it")
    named = _BYTES_IO_REPR.sub(f" {path}" if path else "", text) or type(exc).__name__
    return named if path is None or path in named else f"{named}; image file {path}"


def open_image(value: Any) -> Image.Image:
    """Decode a doc's image value (an :class:`ImageRef` or an already decoded PIL image) to RGB."""
    if isinstance(value, ImageRef):
        return value.open()
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    raise DataError(f"expected an image, got {type(value).__name__}; the doc was not produced by mg_eval.tasks loaders.")


# --------------------------------------------------------------------------------------------------
# HF datasets (hub, save_to_disk, parquet/arrow files)


def _dataset_rows(dataset: Any, config: TaskConfig, source: str | list[str]) -> list[Row]:
    """Turn a ``datasets.Dataset`` into rows; image columns become lazy :class:`ImageRef` values.

    Each image column is read once here (a single-column view, so other columns' images are not touched) to
    tell empty cells and path strings from embedded images; embedded ones stay in the arrow file until used.
    ``source`` names the file (rows are numbered from 0), or gives one label per row.
    """
    import datasets

    image_columns = [c for c in config.image_fields + config.optional_image_fields if c in dataset.column_names]
    plain = dataset.select_columns([c for c in dataset.column_names if c not in image_columns])
    labels = source if isinstance(source, list) else [f"{source}: row {i}" for i in range(len(plain))]
    rows = list(zip(plain.to_list(), labels))
    for column in image_columns:
        view = dataset.select_columns([column])
        if isinstance(view.features[column], datasets.Image):
            view = view.cast_column(column, datasets.Image(decode=False))
        values = (value for batch in view.iter(batch_size=256) for value in batch[column])  # streamed
        for i, value in enumerate(values):
            record, where = rows[i]
            if value is None:
                record[column] = None
            elif isinstance(value, str):  # a path column (MathVista's `image`)
                record[column] = ImageRef(where=f"{where}, column {column}", path=value)
            else:
                record[column] = ImageRef(where=f"{where}, column {column}", dataset=view, row=i, column=column)
    return rows


def _in_doc_schema(config: TaskConfig, rows: list[Row]) -> list[Row]:
    """Rows of the hub dataset's layout in the task's doc schema: through ``hub_format`` where the task has one."""
    return config.hub_format(rows) if config.hub_format is not None else rows


def _load_hub(config: TaskConfig) -> list[Row]:
    names = config.dataset_name if isinstance(config.dataset_name, tuple) else (config.dataset_name,)
    rows: list[Row] = []
    for name in names:
        dataset, hub_id = _load_hub_split(config, name)
        rows.extend(_dataset_rows(dataset, config, f"{hub_id}:{name or ''}:{config.test_split}"))
    return _in_doc_schema(config, rows)


def _load_hub_split(config: TaskConfig, name: str | None) -> tuple[Any, str]:
    """``(dataset, hub id)``: ``dataset_path``, else each ``dataset_path_former`` id in order (a dataset the
    hub moved, e.g. still cached under its old id).

    Raises:
        DataError: no id loads; names the current id, the former ones and the ``--data-path`` fix.
    """
    import datasets

    errors = []
    for hub_id in (config.dataset_path, *config.dataset_path_former):
        try:
            return datasets.load_dataset(hub_id, name, split=config.test_split, **dict(config.dataset_kwargs)), hub_id
        except Exception as exc:  # network, missing revision, unknown split: all reported the same way
            errors.append(f"{hub_id}: {exc}")
    label = config.dataset_path + (f" ({name})" if name else "") + f" split '{config.test_split}'"
    former = f" (also tried its former id(s) {', '.join(config.dataset_path_former)})" if config.dataset_path_former else ""
    raise DataError(
        f"cannot load hub dataset {label} at revision {config.revision}{former}: {'; '.join(errors)}. "
        f"Without hub access, pass --data-path to a local copy (a save_to_disk folder, parquet files, "
        f"or the official files; see docs/tasks.md)."
    )


def _is_save_to_disk(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file())


def _load_saved(config: TaskConfig, path: Path) -> list[Row]:
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if config.test_split not in loaded:
            raise DataError(f"{path}: has splits {sorted(loaded)} but task {config.task} needs split "
                            f"'{config.test_split}'; save that split.")
        loaded = loaded[config.test_split]
    return _dataset_rows(loaded, config, str(path))


_SHARD = re.compile(r"^(?:.*[-_])?(?P<split>[A-Za-z]+)-\d{5}-of-\d{5}(?:-[0-9a-f]+)?$")


def _split_of(file: Path) -> str:
    """The split an HF data file holds, from its name.

    ``validation-00000-of-00001.parquet`` and ``mmmu-validation-00000-of-00001.arrow`` -> validation;
    ``mme-test.arrow`` / ``test.parquet`` -> test; ``en/dev/0000.parquet`` (the hub's parquet export) -> dev.
    """
    stem = file.name.split(".")[0]
    shard = _SHARD.match(stem)
    if shard:
        return shard.group("split")
    if stem.isdigit():
        return file.parent.name
    return stem.split("-")[-1]


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide datasets' per-file "Generating split" bars for small local files; restores the previous state."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _load_files(config: TaskConfig, path: Path, suffix: str) -> list[Row]:
    import datasets

    files = [path] if path.is_file() else sorted(path.rglob(f"*.{suffix}"))
    chosen = [f for f in files if _split_of(f) == config.test_split]
    if not chosen:
        found = sorted({_split_of(f) for f in files})
        raise DataError(f"{path}: no .{suffix} file for split '{config.test_split}' (found splits {found}); "
                        f"task {config.task} evaluates on '{config.test_split}'.")
    with _quiet_datasets():
        try:  # one call for all files (fast); rows stay traceable through the per-file row counts
            dataset = datasets.load_dataset(suffix, data_files=[str(f) for f in chosen], split="train")
            labels = [f"{file}: row {i}" for file in chosen for i in range(_row_count(file, suffix))]
            if len(labels) == len(dataset):
                return _dataset_rows(dataset, config, labels)
        except (ValueError, TypeError):  # files with different columns: one at a time
            pass
        rows: list[Row] = []
        for file in chosen:
            rows.extend(_dataset_rows(datasets.load_dataset(suffix, data_files=[str(file)], split="train"),
                                      config, str(file)))
    return rows


def _row_count(file: Path, suffix: str) -> int:
    """Rows in one data file from its metadata (-1 when unknown, which makes the caller go file by file)."""
    if suffix != "parquet":
        return -1
    import pyarrow.parquet as pq

    return pq.read_metadata(str(file)).num_rows


def _load_local(config: TaskConfig, path: Path) -> list[Row]:
    if not path.exists():
        raise DataError(f"data path {path} does not exist; pass the folder or file of a local copy of {config.task}.")
    if _is_save_to_disk(path):
        return _in_doc_schema(config, _load_saved(config, path))
    if isinstance(config.dataset_name, str) and (path / config.dataset_name).is_dir():
        path = path / config.dataset_name  # a hub copy with several configs (MMBench: en/, cn/, ...)
    for suffix in ("parquet", "arrow"):
        if (path.is_file() and path.suffix == f".{suffix}") or (path.is_dir() and any(path.rglob(f"*.{suffix}"))):
            return _in_doc_schema(config, _load_files(config, path, suffix))
    if config.official_format is not None:
        return config.official_format(path, config.test_split)
    raise DataError(f"{path}: not a save_to_disk folder and holds no parquet/arrow files; task {config.task} "
                    f"has no official file reader.")


# --------------------------------------------------------------------------------------------------
# Schema check and doc ids


def _stable_ids(rows: list[Row], config: TaskConfig) -> list[str]:
    """``str(row[doc_id])``; ids shared by up to ``config.doc_id_repeats`` rows (MME: two questions per image)
    get ``#k`` suffixes in order.

    Raises:
        DataError: an id on more rows than ``doc_id_repeats`` allows, or two rows sharing an id that are
            otherwise the same (a real duplicate, not a second question); names both rows.
    """
    groups: dict[str, list[int]] = {}
    for index, (record, _) in enumerate(rows):
        groups.setdefault(str(record[config.doc_id]), []).append(index)
    compared = [f for f in config.required_fields if f != config.doc_id and f not in config.image_fields]
    ids = [""] * len(rows)
    for base, members in groups.items():
        if len(members) > config.doc_id_repeats:
            allowed = "be unique" if config.doc_id_repeats == 1 else f"appear at most {config.doc_id_repeats} times"
            raise DataError(f"{rows[members[1]][1]}: {config.doc_id} {base!r} repeats {rows[members[0]][1]} "
                            f"({len(members)} rows with this id; in task {config.task} ids must {allowed}); "
                            "remove the duplicated row from the data file.")
        seen: dict[str, int] = {}
        for k, index in enumerate(members):
            content = repr([rows[index][0].get(f) for f in compared])
            if content in seen:
                raise DataError(f"{rows[index][1]}: duplicates {rows[seen[content]][1]} ({config.doc_id} {base!r} "
                                f"with the same {', '.join(compared)}); remove the duplicated row from the data file.")
            seen[content] = index
            ids[index] = base if len(members) == 1 else f"{base}#{k}"
    return ids


def _type_ok(value: Any, spec: str) -> bool:
    """Whether ``value`` matches the ``field_types`` spec (alternatives joined by ``|``)."""
    from mg_eval.tasks.config import FIELD_TYPES

    for name in (part.strip() for part in spec.split("|")):
        if name in ("int", "number") and isinstance(value, bool):
            continue
        if isinstance(value, FIELD_TYPES[name]) and (name != "list[str]" or all(isinstance(v, str) for v in value)):
            return True
    return False


def _check_types(config: TaskConfig, record: dict[str, Any], where: str) -> None:
    for name, spec in config.field_types.items():
        if name in record and not _type_ok(record[name], spec):
            value = record[name]
            shown = (f"a list with {type_names(value)}" if isinstance(value, (list, tuple))
                     else f"{type(value).__name__} {value!r:.60}")
            raise DataError(f"{where}: field '{name}' must be {spec} (task {config.task}), got {shown}; fix that "
                            "field in the data file.")


def type_names(values: Iterable[Any]) -> str:
    """``"str, int items"``: the item types of a list, for error messages."""
    return ", ".join(sorted({type(v).__name__ for v in values})) + " items"


def _check_rows(config: TaskConfig, rows: Iterable[Row]) -> None:
    required = set(config.required_fields) | {config.doc_id} - {None} | set(config.image_fields)
    for record, where in rows:
        missing = sorted(required - set(record))
        if missing:
            raise DataError(f"{where}: missing field(s) {missing} required by task {config.task} "
                            f"(its YAML: {config.yaml_file.name}); the file does not have the expected schema.")
        for column in config.image_fields:
            if record[column] is None:
                raise DataError(f"{where}: no image in column '{column}'; task {config.task} needs one per sample.")
        _check_types(config, record, where)
        for column in config.image_fields + config.optional_image_fields:
            value = record.get(column)
            if isinstance(value, ImageRef):
                value.check()


def load_docs(config: TaskConfig, data_path: str | Path | None = None, limit: int | None = None) -> list[dict]:
    """Load and schema-check the docs of one task.

    Args:
        config: the task's config.
        data_path: ``None`` for the hub dataset (``dataset_path`` at ``dataset_kwargs.revision``), else a
            local copy (see module docstring).
        limit: keep the first ``limit`` docs (checked and returned); ``None`` keeps all.

    Returns:
        docs in the HF schema, each with a stable string ``doc_id``.

    Raises:
        DataError: missing path, wrong split, missing field, a field of the wrong type, a duplicated
            ``doc_id``, missing/corrupted image.
    """
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of samples, got {limit}.")
    rows = _load_hub(config) if data_path is None else _load_local(config, Path(data_path))
    if not rows:
        raise DataError(f"{data_path or config.dataset_path}: no samples found for task {config.task}.")
    # ids (and duplicates) over the whole file, so a --limit run gets the ids of a full run; a row lacking
    # the id column beyond the limit is left to a full run's schema check
    if config.doc_id is None:  # the hub data has no id column: the row's place in the whole split
        whole_file_ids = [str(position) for position in range(len(rows))]
    else:
        whole_file_ids = _stable_ids(rows, config) if all(config.doc_id in record for record, _ in rows) else None
    rows = rows[:limit] if limit is not None else rows
    _check_rows(config, rows)
    docs = []
    for (record, _), doc_id in zip(rows, whole_file_ids or _stable_ids(rows, config)):
        docs.append({**record, "doc_id": doc_id})
    return docs


_HASHED_SUFFIXES = {".json", ".jsonl", ".tsv", ".txt", ".csv", ".yaml"}


def data_fingerprint(config: TaskConfig, data_path: str | Path | None = None) -> dict[str, Any]:
    """Where the docs come from, for results: the hub id/config/revision/split, or a local path with a hash.

    The local hash covers every file's relative path and size, plus the full content of annotation files
    (json, tsv, txt, ...): it changes when a label, a question or an image file changes size, and is the same
    for the same copy in another folder. Images and parquet/arrow data are hashed by size only (fast).
    """
    if data_path is None:
        return {"source": "hub", "dataset_path": config.dataset_path, "dataset_name": config.dataset_name,
                "revision": config.revision, "split": config.test_split}
    path = Path(data_path)
    if not path.exists():
        raise DataError(f"data path {path} does not exist.")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        size = file.stat().st_size
        digest.update(str(size).encode())
        if file.suffix.lower() in _HASHED_SUFFIXES:
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return {"source": "local", "path": str(path.resolve()), "split": config.test_split, "n_files": len(files),
            "sha256": digest.hexdigest()}
