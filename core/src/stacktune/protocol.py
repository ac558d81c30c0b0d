"""The contract between stacktune and a framework: what an adapter implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from stacktune.evaluation import Evaluation, Metric, ResultCallback
from stacktune.space import Space


@runtime_checkable
class Optimizable(Protocol):
    """Anything stacktune can tune. Adapters implement these three methods."""

    def extract_variables(self) -> Space:
        """Every knob the adapter can see, with the target's current value as default."""
        ...

    def apply_configuration(self, configuration: Mapping[str, object]) -> Optimizable:
        """A new Optimizable with the configuration applied; the original never changes."""
        ...

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Run every example, score it, report it through ``on_result`` as it lands."""
        ...


@runtime_checkable
class SupportsExport(Protocol):
    """An Optimizable that can hand back a native object of its framework."""

    def to_native(self) -> object:
        """The framework's own object with the configuration applied (a DSPy module, a chain), to ship."""
        ...


@runtime_checkable
class SupportsAsyncEvaluate(Protocol):
    """An Optimizable with an asyncio evaluation."""

    async def aevaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Like :meth:`Optimizable.evaluate`, on the running event loop (no thread per example)."""
        ...


def is_optimizable(target: object) -> bool:
    """True for objects that implement the three protocol methods."""
    return not isinstance(target, type) and isinstance(target, Optimizable)


__all__ = ["Optimizable", "SupportsAsyncEvaluate", "SupportsExport", "is_optimizable"]
