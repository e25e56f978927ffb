"""`mg-eval report`: the site built from the demo's runs and from a two-checkpoint demo, checked in headless
Chromium (selenium) where one is installed (scripts/install_browser.sh), plus the builder's own logic."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from PIL import Image
from report_fixtures import (
    answer_some,
    evaluate_like_demo,
    independent_flips,
    independent_outcomes,
    newest_run,
    run_demo,
)

from mg_eval.cli.main import main as mg_eval_main
from mg_eval.engine.results import find_runs
from mg_eval.report import collect, compare
from mg_eval.report.browser import find_browser, headless_chrome

MODEL_A, MODEL_B = "tiny-mgm", "MGM-tiny-seed1"
FLIP_TASKS = ("textvqa_val", "mme")
EXTERNAL = re.compile(rb"(https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}|https?:", re.IGNORECASE)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory, tiny_checkpoint: Path) -> Path:
    """`mg-eval demo`'s results (tiny random model, every bundled sample)."""
    base = tmp_path_factory.mktemp("report-demo")
    return run_demo(tiny_checkpoint, base / "runs", base / "cache")


@pytest.fixture(scope="module")
def pair_root(tmp_path_factory, demo_root: Path) -> Path:
    """Two checkpoints (seeds 0 and 1) on the demo data; on two tasks some samples answer their target
    (A: every third, B: every second sample) so samples flip in both directions."""
    import shutil

    from mg_model import build_tiny_checkpoint

    base = tmp_path_factory.mktemp("report-pair")
    root = base / "runs"
    shutil.copytree(demo_root, root)
    evaluate_like_demo(build_tiny_checkpoint(base / MODEL_B, seed=1), root)
    for task in FLIP_TASKS:
        n = len(independent_outcomes(newest_run(root, MODEL_A, task)))
        answer_some(root, MODEL_A, task, {i for i in range(n) if i % 3 == 0})
        answer_some(root, MODEL_B, task, {i for i in range(n) if i % 2 == 0})
    return root


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory, demo_root: Path) -> Path:
    out = tmp_path_factory.mktemp("site-demo") / "site"
    assert mg_eval_main(["report", str(demo_root), "--output", str(out), "--resamples", "200"]) == 0
    return out


@pytest.fixture(scope="module")
def pair_site(tmp_path_factory, pair_root: Path) -> Path:
    out = tmp_path_factory.mktemp("site-pair") / "site"
    argv = ["report", str(pair_root), "--output", str(out), "--compare", MODEL_A, MODEL_B, "--resamples", "200"]
    assert mg_eval_main(argv) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    reason = find_browser()
    if reason:
        print(f"SKIP browser tests: {reason}")
        pytest.skip(reason)
    driver = headless_chrome(1300, 900)
    yield driver
    driver.quit()


# ---------------------------------------------------------------- files, without a browser

def test_site_has_every_page_and_names_no_external_address(demo_site: Path, demo_root: Path) -> None:
    runs = find_runs(demo_root)
    from mg_eval.cli.demo import DEMO_TASKS
    from mg_eval.tasks import resolve_tasks

    assert len(list(demo_site.glob("run-*.html"))) == len(runs) == len(resolve_tasks(list(DEMO_TASKS)))
    for name in ("index.html", "samples.html", "static/report.js", "static/report.css"):
        assert (demo_site / name).is_file()
    assert not (demo_site / "compare.html").exists()
    scanned = 0
    for path in demo_site.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".css", ".svg", ".json"):
            match = EXTERNAL.search(path.read_bytes())
            assert match is None, f"{path} names an external address: {match.group(0)!r}"
            scanned += 1
    assert scanned >= 6 + 2 + 6  # pages, static files, one data chunk per run


def test_leaderboard_lists_the_llava_model_zoo_rows_after_the_paper(demo_site: Path) -> None:
    html = (demo_site / "index.html").read_text(encoding="utf-8")
    assert html.count('data-source="zoo"') == 8 and html.count('data-source="paper"') == 28
    assert html.index('data-source="paper"') < html.index("LLaVA-1.5-7B (LLaVA Model Zoo)")
    assert "MMB-CN" in html  # the zoo's column that the paper's Table 1 lacks


def test_thumbnails_are_downscaled_copies(demo_site: Path) -> None:
    thumbs = list((demo_site / "thumbs").rglob("*.jpg"))
    assert len(thumbs) >= 29  # every demo sample has at least one image
    for path in thumbs:
        with Image.open(path) as image:
            assert max(image.size) <= 160


def test_bad_input_is_one_error_line(tmp_path: Path, demo_root: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    cases = [
        (["report", str(tmp_path / "empty"), "--output", str(tmp_path / "o1")], "no runs"),
        (["report", str(tmp_path / "missing"), "--output", str(tmp_path / "o2")], "does not exist"),
        (["report", str(demo_root), "--output", str(tmp_path / "o3"), "--compare", "tiny-mgm", "tiny-mgn"],
         "did you mean tiny-mgm"),
        (["report", str(demo_root), "--output", str(tmp_path / "a-file")], "is a file"),
        (["report", str(demo_root), "--output", str(tmp_path / "a-file" / "sub")], "not writable"),
        (["report", str(demo_root), "--output", str(tmp_path / "o4"), "--reference", str(tmp_path / "no.csv")],
         "does not exist"),
    ]
    for argv, expected in cases:
        assert mg_eval_main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "error:" in err[0] and expected in err[0], (argv, err)
    assert not (tmp_path / "o3").exists()  # the model check comes before any file is written


def test_breakdowns_and_categories_are_read_generically() -> None:
    scores = {"accuracy": 50.0, "per_sample": {"x": 1}, "n_by_colour": {"red": 2, "blue": 2},
              "by_colour": {"red": 100.0, "blue": 0.0}, "nested": {"a": {"score": 1.0, "n": 3}, "b": {"score": 2.0, "n": 1}},
              "empty": {}, "with_null": {"red": None, "blue": 50.0}, "all_null": {"red": None},
              "rows_with_null": {"red": {"accuracy": None, "total": 0}, "blue": {"accuracy": 20.0, "total": 5}}}
    found = {b.name: b for b in collect.breakdowns(scores)}
    assert set(found) == {"n_by_colour", "by_colour", "nested (score)", "with_null", "rows_with_null (accuracy)"}
    assert found["with_null"].values == {"blue": 50.0} and found["rows_with_null (accuracy)"].values == {"blue": 20.0}
    assert found["n_by_colour"].is_count and not found["by_colour"].is_count
    assert found["nested (score)"].values == {"a": 1.0, "b": 2.0}
    samples = [{"doc_id": "1", "kind": "x", "meta": {"colour": "red"}}, {"doc_id": "2", "kind": "y", "meta": {"colour": "blue"}}]
    assert collect.detect_category_field(samples, scores) == "meta.colour"
    assert collect.detect_category_field([{"doc_id": "1", "category": "c"}], {}) == "category"


def test_flips_need_a_grade_in_both_runs() -> None:
    def view(outcomes):
        return collect.RunView(Path("."), {}, [], "s", outcomes=outcomes)

    a = view({"1": 1.0, "2": 0.0, "3": 1.0, "4": None, "5": 0.5, "6": 1.0})
    b = view({"1": 0.0, "2": 1.0, "3": 1.0, "4": 1.0, "5": 1.0, "6": None})
    assert compare.flipped(a, b) == (["1"], ["2", "5"], 4)


def test_compare_deltas_use_the_paired_test(pair_root: Path, tmp_path: Path) -> None:
    views = collect.load_run_views(pair_root, n_resamples=200, seed=0)
    items = {item.task: item for item in compare.compare_models(views, MODEL_A, MODEL_B, 200, 0)}
    assert set(FLIP_TASKS) <= set(items)
    textvqa = items["textvqa_val"].deltas[0]
    assert textvqa.key == "accuracy" and textvqa.test is not None
    assert textvqa.test.delta == pytest.approx(textvqa.b - textvqa.a)
    mme_keys = {row.key for row in items["mme"].deltas if row.test is not None}
    assert "perception_total" in mme_keys


# ---------------------------------------------------------------- in a real browser

def _wait(driver, script: str, timeout: float = 20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def _open_samples(driver, site: Path, run: Path) -> None:
    """A fresh load of the sample browser on ``run`` (about:blank first: a hash change alone keeps the page)."""
    from mg_eval.engine.results import read_results

    driver.get("about:blank")
    driver.get((site / "samples.html").as_uri() + "#run=" + collect.run_slug(read_results(run)))
    _wait(driver, "return document.body.getAttribute('data-loaded');")


def _visible_ids(driver) -> list[str]:
    return driver.execute_script("return Array.from(document.querySelectorAll('#samples tr.sample'))"
                                 ".map(function (r) { return r.getAttribute('data-doc-id'); });")


def test_leaderboard_renders_one_row_per_model_run(browser, pair_site: Path, pair_root: Path) -> None:
    browser.get((pair_site / "index.html").as_uri())
    ours = browser.execute_script("return Array.from(document.querySelectorAll('#leaderboard tr.ours'))"
                                  ".map(function (r) { return r.getAttribute('data-label'); });")
    assert sorted(ours) == sorted([MODEL_A, MODEL_B])
    assert len(browser.find_elements("css selector", "#leaderboard tr.paper")) == 28
    assert len(browser.find_elements("css selector", "#leaderboard tr.zoo")) == 8
    assert len(browser.find_elements("css selector", "#runs tbody tr")) == len(find_runs(pair_root))
    marks = browser.find_elements("css selector", "#leaderboard tr.ours .nfr")
    assert marks and "max_new_tokens_cap" in marks[0].get_attribute("title")  # demo runs cap generation
    sizes = browser.execute_script("return Array.from(document.images).map(function (i) { return i.naturalWidth; });")
    assert len(sizes) == 2 and min(sizes) > 100  # both figures loaded


def test_filters_change_the_visible_rows(browser, pair_site: Path, pair_root: Path) -> None:
    from selenium.webdriver.support.ui import Select

    run = newest_run(pair_root, MODEL_B, "textvqa_val")
    outcomes = independent_outcomes(run)
    _open_samples(browser, pair_site, run)
    assert sorted(_visible_ids(browser)) == sorted(outcomes)
    Select(browser.find_element("id", "outcome-filter")).select_by_value("right")
    assert sorted(_visible_ids(browser)) == sorted(d for d, o in outcomes.items() if o == 1.0)
    Select(browser.find_element("id", "outcome-filter")).select_by_value("wrong")
    assert sorted(_visible_ids(browser)) == sorted(d for d, o in outcomes.items() if o is not None and o < 1.0)
    Select(browser.find_element("id", "outcome-filter")).select_by_value("all")
    needle = sorted(outcomes)[0]
    browser.find_element("id", "search").send_keys(needle)
    _wait(browser, f"return document.querySelectorAll('#samples tr.sample').length < {len(outcomes)};")
    assert needle in _visible_ids(browser)
    browser.find_element("css selector", "#samples tr.sample").click()  # the detail row opens with the prompt
    detail = browser.find_element("css selector", "#samples tr.detail").text
    assert "ASSISTANT:" in detail and "RAW RESPONSE" in detail.upper()


def test_category_and_ungraded_filters(browser, pair_site: Path, pair_root: Path) -> None:
    from selenium.webdriver.support.ui import Select

    from mg_eval.engine.results import read_samples

    run = newest_run(pair_root, MODEL_A, "mme")
    samples = read_samples(run)
    _open_samples(browser, pair_site, run)
    Select(browser.find_element("id", "category-filter")).select_by_value("existence")
    assert sorted(_visible_ids(browser)) == sorted(s["doc_id"] for s in samples if s["category"] == "existence")
    ungraded_run = newest_run(pair_root, MODEL_A, "mmvet")  # no judge: every sample ungraded
    _open_samples(browser, pair_site, ungraded_run)
    Select(browser.find_element("id", "outcome-filter")).select_by_value("ungraded")
    assert len(_visible_ids(browser)) == len(read_samples(ungraded_run))
    Select(browser.find_element("id", "outcome-filter")).select_by_value("right")
    assert _visible_ids(browser) == []


def test_compare_lists_exactly_the_flipped_samples(browser, pair_site: Path, pair_root: Path) -> None:
    browser.get((pair_site / "compare.html").as_uri())
    _wait(browser, "return document.body.getAttribute('data-loaded') === 'compare';")
    for button in browser.find_elements("css selector", "button.more"):
        if button.is_displayed():
            button.click()
    shown = browser.execute_script(
        "var out = {}; document.querySelectorAll('section.task').forEach(function (s) {"
        " var t = s.getAttribute('data-task'); out[t] = {a_only: [], b_only: []};"
        " s.querySelectorAll('.flip').forEach(function (f) {"
        "  out[t][f.getAttribute('data-direction')].push(f.getAttribute('data-doc-id')); }); });"
        " return out;")
    tasks_a = {p.parent.name for p in find_runs(pair_root) if p.parent.parent.name == MODEL_A}
    assert set(shown) == tasks_a
    n_flips = 0
    for task in tasks_a:
        a_only, b_only = independent_flips(newest_run(pair_root, MODEL_A, task), newest_run(pair_root, MODEL_B, task))
        assert shown[task] == {"a_only": a_only, "b_only": b_only}, task
        n_flips += len(a_only) + len(b_only)
    assert all(shown[t]["a_only"] and shown[t]["b_only"] for t in FLIP_TASKS) and n_flips >= 5
    assert "p=" in browser.find_element("css selector", "section.task[data-task='textvqa_val'] table.deltas").text \
        or "p<" in browser.find_element("css selector", "section.task[data-task='textvqa_val'] table.deltas").text


def test_no_request_leaves_the_page(browser, pair_site: Path) -> None:
    import json

    browser.get_log("performance")  # drop what earlier tests logged
    for page in ("index.html", "samples.html#run=*", "compare.html"):
        browser.get((pair_site / page.split("#")[0]).as_uri() + ("#" + page.split("#")[1] if "#" in page else ""))
        _wait(browser, "return document.readyState === 'complete';")
        time.sleep(0.3)
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert urls and all(url.startswith(("file://", "data:", "about:")) for url in urls), \
        [u for u in urls if not u.startswith("file://")]
    assert any("/thumbs/" in url for url in urls) and any("/data/" in url for url in urls)


# ---------------------------------------------------------------- sub-score-rich fixture runs (real scorers)

def test_breakdowns_provenance_and_flips_on_scored_fixture_runs(tmp_path: Path) -> None:
    import json

    from test_analysis_fixtures import write_row_runs

    from mg_eval.engine.results import read_results

    runs = {row: write_row_runs(tmp_path, row, skill, seed) for row, skill, seed in
            (("base", 0.45, 10), ("mining", 0.62, 20))}
    results_file = runs["base"]["mme"] / "results.json"  # a producer that records no checkpoint path
    record = json.loads(results_file.read_text(encoding="utf-8"))
    del record["model"]["path"]
    results_file.write_text(json.dumps(record), encoding="utf-8")
    out = tmp_path / "site"
    argv = ["report", str(tmp_path / "runs"), "--output", str(out), "--compare", "base", "mining", "--no-images",
            "--no-reference", "--resamples", "200"]
    assert mg_eval_main(argv) == 0
    mme_page = (out / f"run-{collect.run_slug(read_results(runs['base']['mme']))}.html").read_text(encoding="utf-8")
    assert "categories (score)" in mme_page and "sha256:fixture" in mme_page and mme_page.count("<img") >= 1
    vet_page = (out / f"run-{collect.run_slug(read_results(runs['base']['mmvet']))}.html").read_text(encoding="utf-8")
    assert "capabilities" in vet_page
    payload = json.loads((out / "data" / "compare.js").read_text(encoding="utf-8")[len("MGR.compare("):-3])
    by_task = {task["task"]: task for task in payload["tasks"]}
    for task in ("textvqa_val", "mme"):
        a_only, b_only = independent_flips(runs["base"][task], runs["mining"][task])
        assert [pair[0][0] for pair in by_task[task]["a_only"]] == a_only and a_only
        assert [pair[0][0] for pair in by_task[task]["b_only"]] == b_only and b_only
    compare_page = (out / "compare.html").read_text(encoding="utf-8")
    assert compare_page.count('class="significant"') >= 1  # skill 0.45 vs 0.62 over 120 questions
