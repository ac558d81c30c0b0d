"""Helpers shared by the groups of conformance checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacktune import Evaluation, Space
from stacktune_conformance._recording import (
    DEFAULT_MAX_EXAMPLES,
    RecordingMetric,
    ResultLog,
    hypothesis_settings,
)

T = TypeVar("T")

MAX_EXAMPLES_OPTION = "stacktune_max_examples"


def max_examples(config: pytest.Config) -> int:
    """``--stacktune-max-examples`` (or the default when the pytest plugin is not loaded)."""
    value = config.getoption(MAX_EXAMPLES_OPTION, default=DEFAULT_MAX_EXAMPLES)
    return int(value) if value is not None else DEFAULT_MAX_EXAMPLES


class SuiteBase:
    """What every group of checks needs: hypothesis runs, spied evaluations, the space."""

    @staticmethod
    def for_all(request: pytest.FixtureRequest, strategy: st.SearchStrategy[T], check: Callable[[T], None]) -> None:
        """Run ``check`` on examples drawn from ``strategy`` (at most ``--stacktune-max-examples``)."""

        @hypothesis_settings(max_examples(request.config))
        @given(strategy)
        def run(value: T) -> None:
            check(value)

        run()

    @staticmethod
    def space_of(optimizable: Any) -> Space:
        space = optimizable.extract_variables()
        assert isinstance(space, Space), (
            f"extract_variables() must return a stacktune.Space, got {type(space).__qualname__}"
        )
        return space

    @staticmethod
    def spied_evaluate(
        optimizable: Any,
        dataset: Sequence[Any],
        metric: Callable[[Any, Any], Any],
        *,
        max_concurrency: int = 1,
        stop_on_result: int | None = None,
        fail_metric_call: int | None = None,
    ) -> tuple[Evaluation, RecordingMetric, ResultLog]:
        """Evaluate with a recording metric and on_result (which may raise on purpose)."""
        spy = RecordingMetric(metric, raise_on_call=fail_metric_call)
        log = ResultLog(raise_on_call=stop_on_result)
        evaluation = optimizable.evaluate(dataset, spy, on_result=log, max_concurrency=max_concurrency)
        assert isinstance(evaluation, Evaluation), (
            f"evaluate() must return a stacktune.Evaluation, got {type(evaluation).__qualname__}"
        )
        return evaluation, spy, log

    def scores_of(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> tuple[float, ...]:
        """The per-example scores: the observable behaviour the suite compares."""
        evaluation, _, _ = self.spied_evaluate(optimizable, dataset, metric)
        return evaluation.scores
