"""The test module pytester writes: the conformance suite applied to one adapter of broken_adapters.py."""

from __future__ import annotations

_TEMPLATE = """
import pytest
from stacktune.testing import toy_dataset, toy_metric
from stacktune_conformance import OptimizableTests
from broken_adapters import {adapter}


class TestAdapter(OptimizableTests):
    @pytest.fixture
    def optimizable(self):
        return {adapter}()

    @pytest.fixture
    def dataset(self):
        return toy_dataset({n_examples})

    @pytest.fixture
    def metric(self):
        return toy_metric
{extra}"""


def suite_module(adapter: str, *, n_examples: int, extra: str = "") -> str:
    """Source of a test module that runs the whole suite against ``broken_adapters.<adapter>``."""
    return _TEMPLATE.format(adapter=adapter, n_examples=n_examples, extra=extra)
