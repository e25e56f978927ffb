"""`mg-eval report`: a static, self-contained results site (leaderboard, run pages, sample browser, compare).

``build_report(root, output, ReportOptions(...)) -> ReportSummary`` (see :mod:`mg_eval.report.builder`).
Imports nothing heavy at package import; the submodules read runs through :mod:`mg_eval.results`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReportOptions", "ReportSummary", "build_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mg_eval.report import builder

        return getattr(builder, name)
    raise AttributeError(name)
