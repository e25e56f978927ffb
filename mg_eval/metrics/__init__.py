"""Official scorers of the six benchmarks: pure functions, no I/O, no global state.

One module per benchmark (``textvqa``, ``mmbench``, ``mme``, ``mmvet``, ``mmmu``, ``mathvista``). Each has

* ``process_result(...) -> dict``: the per-sample record (JSON-serialisable; fields in the module docstring);
* ``aggregate(records, ...) -> dict``: every score and sub-score from a list of records.

Judge-dependent steps (MM-Vet grading, MathVista answer extraction, MMBench choice extraction) run inside
``aggregate(records, judge=...)``; with ``judge=None`` they report ``n_ungraded`` instead of guessing.
Where an aggregate needs per-sample detail to be kept (MMMU random draws, MathVista extractions, MMBench
group hits, MM-Vet grades) it returns it under ``"per_sample"``: not a score, but kept in results.json
(analysis reads it) and used for each sample's outcome in samples files.
Scores are percentages (0-100) except MME (sums of sub-task scores, perception out of 2000 and cognition
out of 800); fractions are kept beside them where the official tool reports fractions (MMMU, TextVQA).
"""
