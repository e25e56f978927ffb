"""Every reference resolves inside the repository: no citation of a document outside it (the former
``../shared/spec`` pages), and every ``docs/<file>.md#<anchor>`` cited in code, data or docs names an existing
file and heading."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".toml", ".txt", ".cfg", ".sh", ".ini"}
SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "build", "dist", "__pycache__", ".pytest_cache",
                ".ruff_cache", "checkpoints", "generated"}
# Written in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([
    r"\bspec " + "\u00a7",                          # "spec §5": the section of a page that is not in the repository
    re.escape(".." + "/shared"),                    # a path that leaves the checkout
    r"\bshared" + "/spec",
    r"\b(?:mgm_architecture|performance_anchors|benchmark_scoring|lmms_eval|vllm_cpu_notes)" + r"\.md\b",
]), re.IGNORECASE)
# docs/<file>.md#anchor, then optional ", #anchor" / " and #anchor" continuations naming more anchors of that file.
CODE_CITATION = re.compile(r"docs/([\w\-./]+?\.md)#([\w\-]+)((?:(?:,\s*|\s+and\s+)#[\w\-]+)*)")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]*\.md)#([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def _text_files() -> list[Path]:
    files = []
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO).parts
        if path.is_file() and path.suffix in SUFFIXES and not SKIPPED_DIRS.intersection(relative[:-1]):
            files.append(path)
    return files


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link keeps its text only
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors_of(markdown: Path) -> set[str]:
    """All heading anchors of a markdown file (fenced code skipped; repeated headings get -1, -2, ...)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading and not in_fence:
            base = github_anchor(heading.group(1))
            count = seen.get(base, 0)
            anchors.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return anchors


def cited_anchors(path: Path, text: str) -> list[tuple[Path, str]]:
    """(target file, anchor) for every ``docs/x.md#a`` (and markdown ``](x.md#a)`` link in a .md file)."""
    cited = []
    for match in CODE_CITATION.finditer(text):
        target = REPO / "docs" / match.group(1)
        for anchor in [match.group(2), *re.findall(r"#([\w\-]+)", match.group(3))]:
            cited.append((target, anchor))
    if path.suffix == ".md":
        for match in MARKDOWN_LINK.finditer(text):
            if "://" not in match.group(1):
                cited.append(((path.parent / match.group(1)).resolve(), match.group(2)))
    return cited


def test_github_anchor_matches_github() -> None:
    assert github_anchor("LR encoder (CLIP)") == "lr-encoder-clip"
    assert github_anchor("MMBench dev (`tasks/mmbench/scorer.py`)") == "mmbench-dev-tasksmmbenchscorerpy"
    assert github_anchor("1. Image pipeline") == "1-image-pipeline"
    assert github_anchor("`mg-eval score`") == "mg-eval-score"


def test_no_citation_of_a_document_outside_the_repository() -> None:
    """A user who clones the repository can follow every reference: none points at ``../shared`` or at the
    former spec pages; the facts live in docs/official_code.md, docs/roofline.md and docs/scoring.md."""
    hits = []
    for path in _text_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    assert hits == []


def test_every_cited_docs_anchor_exists() -> None:
    """Every ``docs/<file>.md#<anchor>`` in code, tests, data and docs (and every ``](x.md#a)`` link in a
    markdown file) names an existing file and one of its headings."""
    assert anchors_of(REPO / "docs" / "official_code.md") >= {"image-preprocessing", "patch-info-mining",
                                                              "known-quirks", "conversation-templates"}
    cache: dict[Path, set[str]] = {}
    broken = []
    count = 0
    for path in _text_files():
        if path == Path(__file__).resolve():  # its own examples are made up on purpose
            continue
        for target, anchor in cited_anchors(path, path.read_text(encoding="utf-8", errors="replace")):
            count += 1
            if target not in cache:
                cache[target] = anchors_of(target) if target.is_file() else set()
            if anchor not in cache[target]:
                broken.append(f"{path.relative_to(REPO)} -> {target.relative_to(REPO)}#{anchor}")
    assert count > 80  # the citations exist (the scan finds them)
    assert broken == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The patterns flag an outside citation and a missing anchor (so the tests above can fail)."""
    assert OUTSIDE.search("(spec " + "\u00a75)") and OUTSIDE.search("see ." + "./shared/conformance")
    assert not OUTSIDE.search("the ablation spec's seeds; docs/official_code.md#image-preprocessing")
    doc = tmp_path / "x.md"
    doc.write_text("# Title\n\n## Known quirks\n```\n## not a heading\n```\n## Known quirks\n", encoding="utf-8")
    assert anchors_of(doc) == {"title", "known-quirks", "known-quirks-1"}
    cited = cited_anchors(REPO / "a.py", "docs/official_code.md#lr-encoder-clip, #no-such-heading")
    assert [anchor for _, anchor in cited] == ["lr-encoder-clip", "no-such-heading"]
    assert "no-such-heading" not in anchors_of(REPO / "docs" / "official_code.md")
