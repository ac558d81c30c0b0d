"""Spies the suite hands to ``evaluate``: a metric and an ``on_result`` that record (and may raise)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, settings

DEFAULT_MAX_EXAMPLES = 10


class ConformanceStop(Exception):
    """Raised by the suite's ``on_result`` (like a pruner would); the adapter must let it through."""


class MetricFailure(Exception):
    """Raised by the suite's metric on purpose; the adapter must count it as one failed example."""


class RecordingMetric:
    """Wraps the author's metric: counts calls, keeps each returned score, may raise on one call."""

    def __init__(self, metric: Callable[[Any, Any], Any], *, raise_on_call: int | None = None) -> None:
        self._metric = metric
        self._raise_on_call = raise_on_call
        self._lock = threading.Lock()
        self.calls = 0
        self.values: list[float] = []

    def __call__(self, example: Any, prediction: Any) -> Any:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call == self._raise_on_call:
            raise MetricFailure(f"the conformance suite's metric fails on purpose (call #{call})")
        value = self._metric(example, prediction)
        with self._lock:
            self.values.append(float(value))
        return value


class ResultLog:
    """An ``on_result`` callback that records ``(index, score)`` and may raise on one call."""

    def __init__(self, *, raise_on_call: int | None = None) -> None:
        self._raise_on_call = raise_on_call
        self._lock = threading.Lock()
        self.results: list[tuple[int, float]] = []

    def __call__(self, index: int, score: float) -> None:
        with self._lock:
            self.results.append((index, score))
            call = len(self.results)
        if call == self._raise_on_call:
            raise ConformanceStop(f"the conformance suite's on_result stops the evaluation (call #{call})")

    @property
    def indices(self) -> list[int]:
        return [index for index, _ in self.results]


def same_scores(a: Sequence[float], b: Sequence[float]) -> bool:
    """Per-example scores equal up to float noise."""
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(a, b))


def same_value(a: object, b: object) -> bool:
    """Configuration values equal, without confusing True with 1 (numbers compare by value)."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def hypothesis_settings(max_examples: int = DEFAULT_MAX_EXAMPLES) -> settings:
    """Few, reproducible examples: each one may call an LLM, and CI must not flake."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        # Constraints may reject much of a space: hypothesis then keeps trying, or raises Unsatisfiable.
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
