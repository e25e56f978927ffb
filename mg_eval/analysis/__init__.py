"""Statistics, ablation tables and plots over finished runs (results.json + samples.jsonl).

* :mod:`.ablation` -- ablation specs (``ablations/*.yaml``) and running their rows through the engine.
* :mod:`.stats` -- seeded, vectorised bootstrap CIs and paired bootstrap / permutation tests.
* :mod:`.units` -- the unit each benchmark's score is resampled by (question, image, circular group).
* :mod:`.tables` -- the paper's table layout with CIs and p-values, as markdown, LaTeX and CSV.
* :mod:`.plots` -- leaderboard bars / heat map and ablation deltas (matplotlib, PNG + SVG).

Nothing here runs a model itself; see ``docs/ablations.md``.
"""
