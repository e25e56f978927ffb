"""The synthetic detail-reading set is written in the TextVQA annotation format, so TextVQA's reader reads it."""

from __future__ import annotations

from ..textvqa.official_data import read

__all__ = ["read"]
