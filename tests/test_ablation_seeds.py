"""Training seeds and a pre-registered criterion in ablation specs: expansion, validation, the summary's
numbers (recomputed here from the samples) and the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mg_eval.ablation.run import find_row_runs
from mg_eval.ablation.spec import load_spec, parse_spec
from mg_eval.analysis.seed_summary import render_seed_markdown, summarize_seeds
from mg_eval.analysis.tables import StatsSettings, build_table
from mg_eval.errors import UserInputError

SPEC = {
    "name": "seeded", "base": "tiny", "seeds": [0, 1, 2],
    "criterion": {"row": "better", "baseline": "plain", "metric": "tv", "min_delta": 10, "max_p": 0.01},
    "metrics": [{"key": "tv", "header": "TextVQA", "task": "textvqa_val", "score": "accuracy"}],
    "rows": [
        {"id": "plain", "label": "Plain", "section": "s", "delta": {"mining": False}, "checkpoint": "ck/plain"},
        {"id": "better", "label": "Better", "section": "s", "delta": {}, "checkpoint": "ck/better"},
        {"id": "extra", "label": "Extra", "section": "s", "compare_to": "better", "seeds": [0],
         "delta": {"image_grid": 2, "image_global": True, "image_size_aux": 256}, "checkpoint": "ck/extra"},
    ],
}


def test_rows_expand_per_seed_with_their_own_checkpoint_and_reference() -> None:
    spec = parse_spec(SPEC)
    assert [r.id for r in spec.rows] == ["plain_seed0", "better_seed0", "extra_seed0", "plain_seed1", "better_seed1",
                                         "plain_seed2", "better_seed2"]
    row = spec.row("better_seed1")
    assert (row.arm_id, row.seed, row.checkpoint, row.section) == ("better", 1, "ck/better/seed1", "s (seed 1)")
    assert spec.reference_row(row).id == "plain_seed1"  # Δ stays within the seed
    assert spec.reference_row(spec.row("extra_seed0")).id == "better_seed0"
    assert spec.reference_row(spec.row("plain_seed1")) is None
    assert spec.row("better_seed2").mining is True and spec.row("plain_seed2").mining is False
    assert [r.id for r in spec.select(["better", "plain_seed0"])] == ["better_seed0", "better_seed1", "better_seed2",
                                                                       "plain_seed0"]
    with pytest.raises(UserInputError, match="no row with id 'nope'"):
        spec.select(["nope"])


@pytest.mark.parametrize("change, message", [
    ({"seeds": None}, "'criterion' needs 'seeds'"),
    ({"seeds": [0, 0]}, "lists a seed twice"),
    ({"criterion": {**SPEC["criterion"], "row": "nope"}}, "criterion.row 'nope' is not a row id"),
    ({"criterion": {**SPEC["criterion"], "metric": "mme"}}, "criterion.metric 'mme' is not a metric key"),
    ({"criterion": {**SPEC["criterion"], "max_p": 5}}, "max_p must be between 0 and 1"),
    ({"criterion": {"row": "better"}}, "exactly the keys"),
    ({"rows": [{**SPEC["rows"][0], "seeds": [7]}, *SPEC["rows"][1:]]}, r"seeds \[7\] are not in the spec's seeds"),
])
def test_bad_seed_settings_are_rejected_clearly(change: dict, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_spec({**SPEC, **change})


def _write_runs(tmp_path: Path, skills: dict[str, float], skip: tuple[str, ...] = ()) -> Path:
    from test_analysis_fixtures import textvqa, textvqa_records, write_fixture_run

    spec_path = tmp_path / "seeded.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC))
    spec = load_spec(spec_path)
    for row in spec.rows:
        if row.id in skip:
            continue
        records = textvqa_records(skills[row.arm_id], seed=100 + (row.seed or 0))  # same questions within a seed
        write_fixture_run(tmp_path / "out" / "runs" / row.id, row.id, "textvqa_val", "textvqa",
                          textvqa.aggregate(records), records)
    return spec_path


def _summary(tmp_path: Path, skills: dict[str, float], skip: tuple[str, ...] = ()):
    spec = load_spec(_write_runs(tmp_path, skills, skip))
    table = build_table(spec, find_row_runs(spec, tmp_path / "out"), StatsSettings(n_resamples=400))
    return summarize_seeds(table)


def _accuracy(samples: list[dict]) -> float:
    return 100 * sum(s["score"] for s in samples) / len(samples)


def test_summary_numbers_are_the_samples_means_and_the_verdict_follows_the_criterion(tmp_path: Path) -> None:
    from test_analysis_fixtures import textvqa_records

    summary = _summary(tmp_path, {"plain": 0.2, "better": 0.9, "extra": 0.5})
    expected = {seed: _accuracy(textvqa_records(0.9, 100 + seed)) - _accuracy(textvqa_records(0.2, 100 + seed))
                for seed in (0, 1, 2)}
    result = summary.criterion
    assert {s: t.delta for s, t in result.per_seed.items()} == pytest.approx(expected)
    assert result.pooled.delta == pytest.approx(sum(expected.values()) / 3)
    assert result.pooled.n_units == 3 * len(textvqa_records(0.2, 0))
    assert result.met is True
    better = next(a for a in summary.arms if a.arm == "better")
    assert better.scores == pytest.approx({s: _accuracy(textvqa_records(0.9, 100 + s)) for s in (0, 1, 2)})
    extra = next(a for a in summary.arms if a.arm == "extra")
    assert list(extra.scores) == [0] and extra.sd is None
    text = render_seed_markdown(summary)
    assert "Criterion: **met**" in text and "| pooled (" in text


def test_a_small_effect_does_not_meet_the_criterion(tmp_path: Path) -> None:
    summary = _summary(tmp_path, {"plain": 0.5, "better": 0.55, "extra": 0.5})
    assert summary.criterion.met is False
    assert "Criterion: **not met**" in render_seed_markdown(summary)


def test_the_verdict_waits_for_every_seed(tmp_path: Path) -> None:
    summary = _summary(tmp_path, {"plain": 0.2, "better": 0.9, "extra": 0.5}, skip=("better_seed2",))
    assert summary.criterion.met is None and summary.criterion.missing_seeds == (2,)
    assert "not judged yet" in render_seed_markdown(summary)
