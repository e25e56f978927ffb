"""Data loading: official files (bundled sample), HF parquet / save_to_disk copies built here, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pytest

from mg_eval.errors import DataError
from mg_eval.tasks import PROTOCOLS, get_task, list_tasks
from mg_eval.tasks.loaders import ImageRef


def _hf_rows(docs: list[dict]) -> list[dict]:
    """The sample docs as hub rows: ImageRef -> {"bytes", "path"} (HF Image storage), no doc_id."""
    rows = []
    for doc in docs:
        row = {k: v for k, v in doc.items() if k != "doc_id"}
        for key, value in row.items():
            if isinstance(value, ImageRef):
                row[key] = {"bytes": value.read_bytes(), "path": None}
        rows.append(row)
    return rows


def _hf_dataset(task, docs: list[dict]) -> datasets.Dataset:
    dataset = datasets.Dataset.from_list(_hf_rows(docs))
    for column in task.config.image_fields + task.config.optional_image_fields:
        if column in dataset.column_names:
            dataset = dataset.cast_column(column, datasets.Image())
    return dataset


def _assert_same_docs(task, expected: list[dict], got: list[dict]) -> None:
    assert [d["doc_id"] for d in got] == [d["doc_id"] for d in expected]
    for a, b in zip(expected, got):
        assert task.doc_to_target(a) == task.doc_to_target(b)
        for protocol in PROTOCOLS:
            assert task.doc_to_text(a, protocol) == task.doc_to_text(b, protocol)
            images_a, images_b = task.doc_to_visual(a, protocol), task.doc_to_visual(b, protocol)
            assert [img.tobytes() for img in images_a] == [img.tobytes() for img in images_b]


@pytest.mark.parametrize("name", list_tasks())
def test_hf_parquet_and_save_to_disk_copies_load_like_the_official_files(name, tmp_path):
    task = get_task(name)
    if task.sample_path is None:
        pytest.skip(f"{name} ships no sample data")
    official = task.load_sample()
    dataset = _hf_dataset(task, official)
    parquet_dir = tmp_path / "hub_copy" / "data"
    parquet_dir.mkdir(parents=True)
    dataset.to_parquet(str(parquet_dir / f"{task.config.test_split}-00000-of-00001.parquet"))
    _assert_same_docs(task, official, task.load(tmp_path / "hub_copy"))
    datasets.DatasetDict({task.config.test_split: dataset}).save_to_disk(str(tmp_path / "saved"))
    _assert_same_docs(task, official, task.load(tmp_path / "saved"))


def test_save_to_disk_with_the_wrong_split_names_the_split(tmp_path):
    task = get_task("mme")
    dataset = _hf_dataset(task, task.load_sample())
    datasets.DatasetDict({"train": dataset}).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError, match=r"splits \['train'\].*needs split 'test'"):
        task.load(tmp_path / "saved")


def test_parquet_without_the_split_is_an_error(tmp_path):
    task = get_task("mmmu_val")
    shutil.copytree(task.sample_path, tmp_path / "mmmu")
    for file in (tmp_path / "mmmu").rglob("*.parquet"):
        file.rename(file.with_name(file.name.replace("validation", "dev")))
    with pytest.raises(DataError, match=r"no \.parquet file for split 'validation' \(found splits \['dev'\]\)"):
        task.load(tmp_path / "mmmu")


def test_limit_keeps_the_first_docs():
    task = get_task("mmbench_en_dev")
    assert [d["doc_id"] for d in task.load_sample(limit=3)] == ["0", "1", "1000000"]
    with pytest.raises(DataError, match="positive"):
        task.load_sample(limit=0)


def _copy_sample(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(get_task(name).sample_path, target)
    return target


def test_missing_field_names_the_file_and_the_question(tmp_path):
    folder = _copy_sample("textvqa_val", tmp_path)
    annotation = folder / "TextVQA_0.5.1_val.json"
    content = json.loads(annotation.read_text())
    del content["data"][2]["answers"]
    annotation.write_text(json.dumps(content))
    with pytest.raises(DataError, match=r"TextVQA_0\.5\.1_val\.json: data\[2\] \(question_id 34604\): missing field\(s\) \['answers'\]"):
        get_task("textvqa_val").load(folder)


def test_corrupted_image_is_caught_at_load(tmp_path):
    folder = _copy_sample("mmvet", tmp_path)
    (folder / "images" / "v1_1.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    with pytest.raises(DataError, match=r"mm-vet\.json: v1_1: the image is unreadable or corrupted"):
        get_task("mmvet").load(folder)


def test_missing_image_file_names_the_path(tmp_path):
    folder = _copy_sample("mathvista_testmini", tmp_path)
    (folder / "images" / "3.jpg").unlink()
    with pytest.raises(DataError, match=r"pid 3: image file .*images/3\.jpg cannot be read"):
        get_task("mathvista_testmini").load(folder)


def test_corrupted_base64_image_in_the_mmbench_tsv(tmp_path):
    folder = _copy_sample("mmbench_en_dev", tmp_path)
    tsv = folder / "mmbench_dev_20230712.tsv"
    lines = tsv.read_text().splitlines()
    header = lines[0].split("\t")
    cells = lines[2].split("\t")
    cells[header.index("image")] = "bm90IGFuIGltYWdl"  # base64 of "not an image"
    lines[2] = "\t".join(cells)
    tsv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"mmbench_dev_20230712\.tsv: row 3 \(index 1\): the image is unreadable"):
        get_task("mmbench_en_dev").load(folder)


def test_wrong_split_in_official_files(tmp_path):
    folder = _copy_sample("textvqa_val", tmp_path)
    annotation = folder / "TextVQA_0.5.1_val.json"
    content = json.loads(annotation.read_text())
    content["dataset_type"] = "train"
    annotation.write_text(json.dumps(content))
    with pytest.raises(DataError, match=r"is the 'train' split but the task evaluates 'val'"):
        get_task("textvqa_val").load(folder)
    folder = _copy_sample("mathvista_testmini", tmp_path)
    problems = json.loads((folder / "testmini.json").read_text())
    problems["2"]["metadata"]["split"] = "test"
    (folder / "testmini.json").write_text(json.dumps(problems))
    with pytest.raises(DataError, match=r"pid 2: belongs to split 'test' but the task evaluates 'testmini'"):
        get_task("mathvista_testmini").load(folder)


def test_mgm_textvqa_prompt_needs_the_ocr_file(tmp_path):
    folder = _copy_sample("textvqa_val", tmp_path)
    (folder / "TextVQA_Rosetta_OCR_v0.2_val.json").unlink()
    task = get_task("textvqa_val")
    doc = task.load(folder)[0]
    assert task.doc_to_text(doc, "lmms").startswith("What does the sign say?")
    with pytest.raises(DataError, match="TextVQA_Rosetta_OCR_v0.2_val.json"):
        task.doc_to_text(doc, "mgm")


def test_mme_eval_tool_layout_loads_like_the_release_folder(tmp_path):
    """eval_tool question files (image, question, GT) with images under <category>/ give the same docs."""
    task = get_task("mme")
    release = task.sample_path / "MME_Benchmark_release_version"
    tool = tmp_path / "eval_tool"
    tool.mkdir()
    for category in ("existence", "artwork", "code_reasoning"):
        docs = [d for d in task.load_sample() if d["category"] == category]
        lines = [f"{Path(d['image'].path).name}\t{d['question']}\t{d['answer']}\n" for d in docs]
        (tool / f"{category}.txt").write_text("".join(lines))
        shutil.copytree(release / category, tool / category)
    _assert_same_docs(task, task.load_sample(), task.load(tool))


def test_nonexistent_path_and_unrecognised_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        get_task("mme").load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no MME category found"):
        get_task("mme").load(tmp_path / "empty")
    with pytest.raises(DataError, match="no TextVQA annotation json found"):
        get_task("textvqa_val").load(tmp_path / "empty")


def test_hub_load_failure_points_to_a_local_copy(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"cannot load hub dataset lmms-lab-encoder/MME split 'test'.*also tried its former id.*lmms-lab/MME.*--data-path"):
        get_task("mme").load()


def test_hub_loading_uses_the_pinned_revision_and_every_mmmu_subject(monkeypatch):
    """The hub path: load_dataset(path, config, split=, revision=) per config, concatenated in order."""
    task = get_task("mmmu_val")
    expected = task.load_sample()
    sample = _hf_dataset(task, expected)
    calls = []

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split, kwargs.get("revision")))
        return sample.filter(lambda row: row["id"].split("_")[1] == name)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    docs = task.load()
    assert len(calls) == 30 and {c[0] for c in calls} == {"MMMU/MMMU"}
    assert [c[1] for c in calls][:3] == ["Accounting", "Agriculture", "Architecture_and_Engineering"]
    assert {c[2] for c in calls} == {"validation"} and {c[3] for c in calls} == {task.config.revision}
    _assert_same_docs(task, expected, docs)


def test_generator_reproduces_the_bundled_samples(tmp_path):
    """scripts/make_sample_data.py writes data that loads to the same docs as the committed sample."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_sample_data.py"
    spec = importlib.util.spec_from_file_location("make_sample_data", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for name in ("textvqa_val", "mmbench_en_dev", "mme", "mmvet", "mmmu_val", "mathvista_testmini"):
        task = get_task(name)
        _assert_same_docs(task, task.load_sample(), task.load(tmp_path / task.benchmark))
    total = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file())
    assert total < 200_000  # small enough to ship


def test_corrupted_embedded_image_names_the_parquet_file_and_row(tmp_path):
    task = get_task("mmmu_val")
    folder = _copy_sample("mmmu_val", tmp_path)
    math_file = folder / "Math" / "validation-00000-of-00001.parquet"
    table = datasets.load_dataset("parquet", data_files=[str(math_file)], split="train")
    table = table.cast_column("image_1", datasets.Image(decode=False))
    broken = table.map(lambda row, i: {"image_1": {"bytes": b"garbage" if i == 1 else row["image_1"]["bytes"],
                                                   "path": None}}, with_indices=True)
    broken.cast_column("image_1", datasets.Image()).to_parquet(str(math_file))
    with pytest.raises(DataError, match=r"Math/validation-00000-of-00001\.parquet: row 1, column image_1: the image is unreadable"):
        task.load(folder)


def test_hub_copy_with_several_configs_reads_the_tasks_config(tmp_path):
    """A local copy of lmms-lab/MMBench holds en/, cn/, ...: only dataset_name 'en' is read."""
    task = get_task("mmbench_en_dev")
    dataset = _hf_dataset(task, task.load_sample())
    for config in ("en", "cn"):
        (tmp_path / config).mkdir()
        dataset.to_parquet(str(tmp_path / config / "dev-00000-of-00001.parquet"))
    assert len(task.load(tmp_path)) == len(dataset)


@pytest.mark.parametrize(("name", "split"), [
    ("validation-00000-of-00001.parquet", "validation"),
    ("Art/validation-00000-of-00001.parquet", "validation"),
    ("data/test-00002-of-00004-3f2a9b1c.parquet", "test"),
    ("mmmu-validation-00000-of-00003.arrow", "validation"),
    ("mme-test.arrow", "test"),
    ("testmini.parquet", "testmini"),
    ("en/dev/0000.parquet", "dev"),
])
def test_split_is_read_from_hf_file_names(name, split):
    from mg_eval.tasks.loaders import _split_of

    assert _split_of(Path(name)) == split


def test_data_fingerprint_tracks_annotation_content_not_location(tmp_path):
    task = get_task("mathvista_testmini")
    hub = task.data_fingerprint()
    assert hub["source"] == "hub" and hub["dataset_path"] == "AI4Math/MathVista" and hub["split"] == "testmini"
    first = task.data_fingerprint(_copy_sample("mathvista_testmini", tmp_path / "a"))
    second = task.data_fingerprint(_copy_sample("mathvista_testmini", tmp_path / "b"))
    assert first["sha256"] == second["sha256"] and first["path"] != second["path"]
    problems = json.loads((tmp_path / "b" / "mathvista_testmini" / "testmini.json").read_text())
    problems["2"]["answer"] = "5"
    (tmp_path / "b" / "mathvista_testmini" / "testmini.json").write_text(json.dumps(problems, indent=1) + "\n")
    assert task.data_fingerprint(tmp_path / "b" / "mathvista_testmini")["sha256"] != first["sha256"]
