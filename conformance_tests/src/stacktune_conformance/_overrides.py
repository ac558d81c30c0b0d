"""Finding standard tests a subclass replaced without saying why (as langchain-tests does).

A subclass may override a standard test only to mark it
``@pytest.mark.xfail(reason="...")``; anything else would let an adapter quietly opt out.
"""

from __future__ import annotations

from typing import Any


def standard_test_names(suite: type) -> list[str]:
    """The test methods the suite defines (inherited ones included)."""
    return sorted(name for name in dir(suite) if name.startswith("test_"))


def has_xfail_reason(function: Any) -> bool:
    """True when ``function`` carries ``pytest.mark.xfail`` with a non-empty reason."""
    marks = getattr(function, "pytestmark", [])
    return any(mark.name == "xfail" and str(mark.kwargs.get("reason") or "").strip() for mark in marks)


def overrides_without_xfail(cls: type, suite: type) -> list[str]:
    """Standard tests that ``cls`` replaced (or deleted) without an xfail reason."""
    bad = []
    for name in standard_test_names(suite):
        mine = getattr(cls, name, None)
        if mine is getattr(suite, name):
            continue
        if mine is None or not callable(mine) or not has_xfail_reason(mine):
            bad.append(name)
    return bad
