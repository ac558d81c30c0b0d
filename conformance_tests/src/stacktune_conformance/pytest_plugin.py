"""The pytest plugin (``pytest11`` entry point): the suite's option, marker and fixtures.

Loaded automatically once ``stacktune-conformance`` is installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from stacktune_conformance._base import MAX_EXAMPLES_OPTION, max_examples
from stacktune_conformance._recording import DEFAULT_MAX_EXAMPLES, hypothesis_settings
from stacktune_conformance.faults import FaultServer

MARKER = "stacktune_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--stacktune-max-examples``: how many hypothesis examples each property check runs."""
    group = parser.getgroup("stacktune", "stacktune conformance suite")
    group.addoption(
        "--stacktune-max-examples",
        dest=MAX_EXAMPLES_OPTION,
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        metavar="N",
        help=f"hypothesis examples per property check of the conformance suite (default {DEFAULT_MAX_EXAMPLES}; "
        f"keep it small: each example may call an LLM)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the suite's marker and refuse a ``--stacktune-max-examples`` below 1."""
    config.addinivalue_line(
        "markers", f"{MARKER}: a standard test of the stacktune conformance suite (select with -m {MARKER})"
    )
    if max_examples(config) < 1:
        raise pytest.UsageError(f"--stacktune-max-examples must be at least 1, got {max_examples(config)}")


@pytest.fixture
def stacktune_settings(request: pytest.FixtureRequest) -> settings:
    """hypothesis settings honouring ``--stacktune-max-examples``, for authors' own property tests."""
    return hypothesis_settings(max_examples(request.config))


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh OpenAI-compatible fault server on 127.0.0.1 (:mod:`stacktune_conformance.faults`), stopped after."""
    with FaultServer() as server:
        yield server
