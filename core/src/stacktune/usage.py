"""What running a program costs, and how that cost reaches the study as it is spent.

An adapter reports each LLM call's :class:`Usage` with :func:`record_usage` as soon as it
is known, whatever happens next (a parser that raises, a metric that fails). The report
goes to two places:

- the example being run, if any: :func:`~stacktune.evaluate_examples` opens one scope per
  example, so a failed example's tokens are counted like any other's;
- every active :class:`UsageMeter` (:func:`metering`): how a study enforces its budget
  while a trial runs.

Both travel in context variables, so worker threads started with a copied context and
asyncio tasks see the scope of the example they belong to.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """What an evaluation cost.

    Token counts, cost and latency describe every answer, including those served from
    a cache, so a configuration's cost does not depend on what ran before it;
    ``cache_hits``/``cached_*`` say how much of it was not paid again, and the
    ``spent_*`` properties give what was really spent (what a budget counts).
    ``unpriced_calls`` counts calls to a model with no known price: their cost is
    unknown, not zero. ``calls`` counts every attempt, failed ones included (a 500, a
    timeout, a retry), so a call budget holds against a failing server;
    ``failed_calls`` says how many of them got no answer.
    """

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    failed_calls: int = Field(default=0, description="attempts that got no answer (counted in calls too)")
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    unpriced_models: tuple[str, ...] = Field(default=(), description="the models of the unpriced calls")
    cache_hits: int = 0
    cached_tokens: int = 0
    cached_cost_usd: float = 0.0
    latencies: tuple[float, ...] = Field(
        default=(), description="seconds: per example in an Evaluation, per call when an adapter records a call"
    )

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens, cached answers' included."""
        return self.input_tokens + self.output_tokens

    @property
    def spent_calls(self) -> int:
        """Calls really made: cache hits cost nothing."""
        return self.calls - self.cache_hits

    @property
    def answered_calls(self) -> int:
        """Calls that got an answer (from the model or the cache)."""
        return self.calls - self.failed_calls

    @property
    def spent_tokens(self) -> int:
        """Tokens really paid for (cached ones left out): what a token budget counts."""
        return self.total_tokens - self.cached_tokens

    @property
    def spent_cost_usd(self) -> float:
        """Dollars really paid (cached answers left out): what a cost budget counts."""
        return self.cost_usd - self.cached_cost_usd

    @property
    def mean_latency(self) -> float:
        """Seconds per recorded latency (per example in an Evaluation); 0.0 when none was recorded."""
        return sum(self.latencies) / len(self.latencies) if self.latencies else 0.0

    @property
    def total_latency(self) -> float:
        """All the recorded latencies added up, in seconds."""
        return sum(self.latencies)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            calls=self.calls + other.calls,
            failed_calls=self.failed_calls + other.failed_calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            unpriced_calls=self.unpriced_calls + other.unpriced_calls,
            unpriced_models=self.unpriced_models
            + tuple(m for m in other.unpriced_models if m not in self.unpriced_models),
            cache_hits=self.cache_hits + other.cache_hits,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cached_cost_usd=self.cached_cost_usd + other.cached_cost_usd,
            latencies=self.latencies + other.latencies,
        )

    @classmethod
    def sum(cls, usages: Sequence[Usage]) -> Usage:
        """The total of many usages (zero usage for none), e.g. of an evaluation's examples."""
        total = cls()
        for usage in usages:
            total = total + usage
        return total

    def without_latencies(self) -> Usage:
        """This usage without its latencies, for running totals that must not grow with every call."""
        return self.model_copy(update={"latencies": ()}) if self.latencies else self

    def summary(self) -> dict[str, float | int]:
        """A flat dict for storage and tables (no per-example list)."""
        return {
            "calls": self.calls,
            "failed_calls": self.failed_calls,
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


class UsageMeter:
    """A thread-safe running total of usage, fed call by call (latencies are not kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self._listeners: list[Callable[[Usage], None]] = []

    def add(self, usage: Usage) -> None:
        """Count one report, then pass it to the listeners (outside the lock, so they may read the total)."""
        with self._lock:
            self._total = self._total + usage.without_latencies()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(usage)

    @property
    def total(self) -> Usage:
        """What has been counted so far (without latencies)."""
        with self._lock:
            return self._total

    def subscribe(self, listener: Callable[[Usage], None]) -> None:
        """Call ``listener`` with every usage added from now on, as soon as it is counted."""
        with self._lock:
            self._listeners.append(listener)


class ExampleUsage:
    """The usage recorded while one example runs (thread-safe: an example may call models in parallel)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()

    def add(self, usage: Usage) -> None:
        """Count usage toward this example, latencies kept: they make the example's latency."""
        with self._lock:
            self._total = self._total + usage

    @property
    def total(self) -> Usage:
        """The example's cost so far."""
        with self._lock:
            return self._total


_ACTIVE_METERS: contextvars.ContextVar[tuple[UsageMeter, ...]] = contextvars.ContextVar(
    "stacktune_usage_meters", default=()
)
_CURRENT_EXAMPLE: contextvars.ContextVar[ExampleUsage | None] = contextvars.ContextVar(
    "stacktune_example_usage", default=None
)


@contextmanager
def metering(meter: UsageMeter) -> Iterator[UsageMeter]:
    """Make ``meter`` receive every usage recorded in this context (and its worker threads)."""
    token = _ACTIVE_METERS.set(_ACTIVE_METERS.get() + (meter,))
    try:
        yield meter
    finally:
        _ACTIVE_METERS.reset(token)


@contextmanager
def example_usage() -> Iterator[ExampleUsage]:
    """A fresh per-example scope: what :func:`record_usage` reports inside it is that example's cost."""
    scope = ExampleUsage()
    token = _CURRENT_EXAMPLE.set(scope)
    try:
        yield scope
    finally:
        _CURRENT_EXAMPLE.reset(token)


def record_usage(usage: Usage) -> None:
    """Report usage as it is spent: to the example being run (if any) and to every active meter.

    Adapters call it once per LLM call (or once per example with the example's total),
    before anything that may raise afterwards, so failed examples are paid for too.
    Latencies recorded here are per call; an example's latency is their sum (a cached
    answer reports the latency of the call that produced it), or the example's wall
    time when none is recorded.
    """
    scope = _CURRENT_EXAMPLE.get()
    if scope is not None:
        scope.add(usage)
    for meter in _ACTIVE_METERS.get():
        meter.add(usage)


__all__ = ["ExampleUsage", "Usage", "UsageMeter", "example_usage", "metering", "record_usage"]
