"""The contract between stacktune and a framework: Optimizable, Evaluation, Usage."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from stacktune.space import Space

#: ``metric(example, prediction)``: a float (or bool) where higher is better.
Metric = Callable[[Any, Any], "float | bool"]

#: ``on_result(index, score)``: called once per finished example; raising stops the evaluation.
ResultCallback = Callable[[int, float], None]


class Usage(BaseModel):
    """What an evaluation cost.

    Token counts, cost and latency describe every answer, including those served from
    a cache, so a configuration's cost does not depend on what ran before it;
    ``cache_hits``/``cached_*`` say how much of it was not paid again, and the
    ``spent_*`` properties give what was really spent (what a budget counts).
    """

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    cache_hits: int = 0
    cached_tokens: int = 0
    cached_cost_usd: float = 0.0
    latencies: tuple[float, ...] = Field(default=(), description="seconds per example")

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def spent_calls(self) -> int:
        return self.calls - self.cache_hits

    @property
    def spent_tokens(self) -> int:
        return self.total_tokens - self.cached_tokens

    @property
    def spent_cost_usd(self) -> float:
        return self.cost_usd - self.cached_cost_usd

    @property
    def mean_latency(self) -> float:
        return sum(self.latencies) / len(self.latencies) if self.latencies else 0.0

    @property
    def total_latency(self) -> float:
        return sum(self.latencies)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
            cache_hits=self.cache_hits + other.cache_hits,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cached_cost_usd=self.cached_cost_usd + other.cached_cost_usd,
            latencies=self.latencies + other.latencies,
        )

    @classmethod
    def sum(cls, usages: Sequence[Usage]) -> Usage:
        total = cls()
        for usage in usages:
            total = total + usage
        return total

    def summary(self) -> dict[str, float | int]:
        """A flat dict for storage and tables (no per-example list)."""
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "unpriced_calls": self.unpriced_calls,
            "cache_hits": self.cache_hits,
            "spent_calls": self.spent_calls,
            "spent_tokens": self.spent_tokens,
            "spent_cost_usd": self.spent_cost_usd,
            "mean_latency": self.mean_latency,
        }


class ExampleFailure(BaseModel):
    """One example whose target or metric raised: it scored 0."""

    model_config = ConfigDict(frozen=True)

    index: int
    error_type: str
    message: str


class Evaluation(BaseModel):
    """The result of running a target over a dataset: mean score, per-example scores, usage."""

    model_config = ConfigDict(frozen=True)

    score: float
    scores: tuple[float, ...]
    usage: Usage = Field(default_factory=Usage)
    failures: tuple[ExampleFailure, ...] = ()

    @classmethod
    def from_scores(cls, scores: Sequence[float], usage: Usage | None = None,
                    failures: Sequence[ExampleFailure] = ()) -> Evaluation:
        values = tuple(float(s) for s in scores)
        mean = sum(values) / len(values) if values else 0.0
        return cls(score=mean, scores=values, usage=usage or Usage(), failures=tuple(failures))

    @property
    def n_examples(self) -> int:
        return len(self.scores)

    @property
    def n_failures(self) -> int:
        return len(self.failures)

    def summary(self) -> dict[str, float | int]:
        return {"score": self.score, "n_examples": self.n_examples, "n_failures": self.n_failures,
                **self.usage.summary()}

    def is_consistent(self) -> bool:
        """Score is the mean of the per-example scores (what the conformance suite checks)."""
        if not self.scores:
            return self.score == 0.0
        return math.isclose(self.score, sum(self.scores) / len(self.scores), rel_tol=1e-9, abs_tol=1e-12)


@runtime_checkable
class Optimizable(Protocol):
    """Anything stacktune can tune. Adapters implement these three methods."""

    def extract_variables(self) -> Space:
        """Every knob the adapter can see, with the target's current value as default."""
        ...

    def apply_configuration(self, configuration: Mapping[str, object]) -> Optimizable:
        """A new Optimizable with the configuration applied; the original never changes."""
        ...

    def evaluate(self, dataset: Sequence[object], metric: Metric, *,
                 on_result: ResultCallback | None = None, max_concurrency: int = 1) -> Evaluation:
        """Run every example, score it, report it through ``on_result`` as it lands."""
        ...


@runtime_checkable
class SupportsExport(Protocol):
    """An Optimizable that can hand back a native object of its framework."""

    def to_native(self) -> object: ...


@runtime_checkable
class SupportsAsyncEvaluate(Protocol):
    """An Optimizable with an asyncio evaluation."""

    async def aevaluate(self, dataset: Sequence[object], metric: Metric, *,
                        on_result: ResultCallback | None = None, max_concurrency: int = 1) -> Evaluation: ...


def is_optimizable(target: object) -> bool:
    """True for objects that implement the three protocol methods."""
    return not isinstance(target, type) and isinstance(target, Optimizable)


__all__ = [
    "Evaluation", "ExampleFailure", "Metric", "Optimizable", "ResultCallback", "SupportsAsyncEvaluate",
    "SupportsExport", "Usage", "is_optimizable",
]

