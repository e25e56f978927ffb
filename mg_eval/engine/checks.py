"""Checks the engine runs on every document before any model is loaded (cheap: no image is decoded)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mg_eval.errors import DataError, user_error_from


def check_prompts(task: Any, docs: Sequence[Mapping[str, Any]], protocol: str) -> None:
    """Build every document's user text now, so a sample whose prompt cannot be built fails before the
    model loads, naming the task and ``doc_id``.

    Raises:
        DataError: ``doc_to_text`` needs a field the doc lacks, fails on a user-caused error, or the text
            already holds the ``<image>`` placeholder (the processor adds it; a second one would be spliced).
    """
    from mg_model.conversation import DEFAULT_IMAGE_TOKEN

    for doc in docs:
        where = f"task {task.name}, doc_id {doc.get('doc_id')!r}"
        try:
            text = task.doc_to_text(doc, protocol)
        except KeyError as exc:
            raise DataError(f"{where}: building the {protocol} prompt needs field {exc}, which this sample "
                            "lacks; add it to the data file") from None
        except Exception as exc:
            user_error = user_error_from(exc)
            if user_error is None:
                raise
            raise DataError(f"{where}: the prompt cannot be built ({user_error})") from None
        if DEFAULT_IMAGE_TOKEN in str(text):
            raise DataError(f"{where}: the question holds the image placeholder {DEFAULT_IMAGE_TOKEN!r}; remove "
                            "it from the data file (the processor adds the placeholder itself)")
