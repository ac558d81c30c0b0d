"""Deliberately broken adapters: each breaks one rule of the protocol, the suite must catch it.

They are small variations on stacktune.testing.ToyProgram. The meta-tests copy this file
next to a conformance test and run pytest on it with pytester.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from stacktune import Evaluation, Int, Metric, ModelCall, Space, Usage
from stacktune.protocol import ResultCallback
from stacktune.testing import ToyProgram


class _SameTypeToy(ToyProgram):
    """ToyProgram whose apply_configuration returns the subclass, so the breakage survives apply."""

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyProgram:
        applied = super().apply_configuration(configuration)
        return type(self)(applied.strategy, applied.steps, applied.temperature, applied.style, counter=self.counter)


class MutatingToy(_SameTypeToy):
    """Writes the configuration into the original too (as `setattr` on a shared object would)."""

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyProgram:
        applied = super().apply_configuration(configuration)
        self.strategy, self.steps, self.temperature, self.style = (
            applied.strategy,
            applied.steps,
            applied.temperature,
            applied.style,
        )
        return applied


class IgnoringToy(_SameTypeToy):
    """Validates `temperature` but never applies it."""

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyProgram:
        applied = super().apply_configuration(configuration)
        applied.temperature = self.temperature
        return applied


class SwallowingToy(_SameTypeToy):
    """Catches what on_result raises, so a study could never prune it."""

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        def swallow(index: int, score: float) -> None:
            try:
                if on_result is not None:
                    on_result(index, score)
            except Exception:
                pass

        return super().evaluate(dataset, metric, on_result=swallow, max_concurrency=max_concurrency)


class WrongUsageToy(_SameTypeToy):
    """Reports one call and one latency for the whole run instead of one per example."""

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        evaluation = super().evaluate(dataset, metric, on_result=on_result, max_concurrency=max_concurrency)
        usage = evaluation.usage
        wrong = Usage(
            calls=1,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=usage.cost_usd,
            latencies=(usage.total_latency,),
        )
        return evaluation.model_copy(update={"usage": wrong})


class LenientToy(_SameTypeToy):
    """Drops names it does not know instead of rejecting them (a typo would go unnoticed)."""

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyProgram:
        known = self.extract_variables().names
        return super().apply_configuration({k: v for k, v in configuration.items() if k in known})


class FragileToy(_SameTypeToy):
    """Runs examples in a plain loop: one raising metric kills the whole evaluation."""

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        scores = []
        for index, example in enumerate(dataset):
            scores.append(float(metric(example, self.quality)))
            if on_result is not None:
                on_result(index, scores[-1])
        usage = Usage(calls=len(dataset), input_tokens=10 * len(dataset), latencies=(0.001,) * len(dataset))
        return Evaluation.from_scores(scores, usage)


class CompleteToy(_SameTypeToy):
    """A correct adapter with every optional capability: export, async evaluation and bootstrapped demos.

    Given demos it has an ``n_demos`` knob (default 0: the program as it was); showing any makes it better.
    """

    demos: tuple[object, ...] = ()
    max_demos = 0
    n_demos = 0

    @property
    def quality(self) -> float:
        return super().quality + (0.5 if self.n_demos else 0.0)

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> CompleteToy:
        new = type(self)(self.strategy, self.steps, self.temperature, self.style, counter=self.counter)
        new.demos, new.max_demos = tuple(demos), min(max_demos, len(demos))
        new.n_demos = self.first_n_demos(new.max_demos)
        return new

    @staticmethod
    def first_n_demos(max_demos: int) -> int:
        return 0

    def extract_variables(self) -> Space:
        space = super().extract_variables()
        return space.add(Int("n_demos", 0, self.max_demos, default=self.n_demos)) if self.max_demos else space

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyProgram:
        applied = super().apply_configuration(configuration)
        assert isinstance(applied, CompleteToy)
        applied.demos, applied.max_demos = self.demos, self.max_demos
        applied.n_demos = int(configuration.get("n_demos", self.n_demos))  # type: ignore[call-overload]
        return applied

    def to_native(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "steps": self.steps, "temperature": self.temperature, "style": self.style}

    def model_calls(self, example: object, native: object | None = None) -> list[ModelCall]:
        """One pretend call: the knobs are its parameters, the quality of those knobs its answer."""
        own = {"strategy": self.strategy, "steps": self.steps, "temperature": self.temperature, "style": self.style}
        knobs = own if native is None else dict(native)  # type: ignore[call-overload]
        program = ToyProgram(knobs["strategy"], knobs["steps"], knobs["temperature"], knobs["style"])
        return [ModelCall((("user", f"difficulty {example}"),), knobs, f"{program.quality:.6f}")]

    async def aevaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        return await asyncio.to_thread(
            self.evaluate, dataset, metric, on_result=on_result, max_concurrency=max_concurrency
        )


class StaleExportToy(CompleteToy):
    """Exports the program it was built from, not the configuration: the temperature does not carry over."""

    def to_native(self) -> dict[str, Any]:
        return {**super().to_native(), "temperature": 0.7}


class NoneExportToy(CompleteToy):
    """Claims to export but gives nothing back."""

    def to_native(self) -> dict[str, Any]:
        return None  # type: ignore[return-value]


class DeafAsyncToy(CompleteToy):
    """An aevaluate that never calls on_result."""

    async def aevaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        return await asyncio.to_thread(self.evaluate, dataset, metric, max_concurrency=max_concurrency)


class PushyDemoToy(CompleteToy):
    """Shows its demos by default: the program as it was is no longer the default."""

    @staticmethod
    def first_n_demos(max_demos: int) -> int:
        return max_demos
