"""The short texts stacktune stores about examples and predictions, made in one place.

A study keeps a glimpse of its examples' inputs and of each trial's predictions so that a
report can show which examples a configuration fixed or broke. Those texts come from user
data and model output, which may hold secrets or be huge: every one of them is made by
:func:`stored_text`, so its length is bounded in one place and redaction has one place to act.
"""

from __future__ import annotations

import json
import re

from stacktune.secrets import redact

_SPACES = re.compile(r"\s+")


def stored_text(value: object, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters, the way stacktune stores it.

    Strings are kept as they are, JSON-able values as compact JSON, anything else as its
    ``repr``; runs of whitespace become one space, secrets are masked (:mod:`stacktune.secrets`), and a
    longer text is cut with "…".
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    if isinstance(value, str):
        text = value[: limit * 4]  # whitespace may collapse: keep enough, never copy a huge text whole
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        except (TypeError, ValueError):
            text = repr(value)
    text = redact(_SPACES.sub(" ", text[: limit * 4]).strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["stored_text"]
