"""The Optimizable for a :class:`~stacktune_prompt.Prompt`: its knobs, applying them, evaluating.

This is the reference adapter: the three protocol methods, each a few lines, with the
hard parts (concurrency, failures, on_result, budgets) left to
:func:`stacktune.evaluate_examples`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from stacktune import (
    Categorical,
    Evaluation,
    Float,
    Int,
    InvalidVariable,
    Metric,
    ResultCallback,
    Space,
    Variable,
    evaluate_examples,
)
from stacktune_prompt.prompt import Prompt


class PromptAdapter:
    """Tunes a Prompt: instructions, demos, sampling, model and parser.

    **How demos are searched.** ``n_demos`` (Int 0..pool size, or ``max_demos``) says
    how many demos are shown; ``demo_order`` (a Categorical, active when ``n_demos >= 1``)
    says which ones and in what order: the first ``n_demos`` of one of a few fixed
    orderings of the pool (the pool's own order, then seeded shuffles). That keeps the
    search two-dimensional, however large the pool, while still trying different demos
    and orders; nested prefixes mean TPE learns "how many" independently of "which".
    Per-demo inclusion flags would add one variable per demo (far too many for a few
    dozen trials) and ignore order; a Categorical of all subsets would explode. The
    ordering keys carry a hash of the pool, so a stored study refuses a changed pool.
    """

    def __init__(self, prompt: Prompt) -> None:
        if not isinstance(prompt, Prompt):
            raise TypeError(f"PromptAdapter wraps a stacktune_prompt.Prompt, got {type(prompt).__name__}")
        self.prompt = prompt

    def __repr__(self) -> str:
        return f"PromptAdapter({self.prompt!r})"

    def extract_variables(self) -> Space:
        """Every knob of the Prompt, each with its current value as default."""
        p = self.prompt
        variables: list[Variable] = []
        if len(p.instruction_candidates) > 1:
            variables.append(Categorical("instructions", list(p.instruction_candidates), default=p.instructions,
                                         description="the system text"))
        if p.demo_limit > 0:
            variables.append(Int(name="n_demos", low=0, high=p.demo_limit, default=p.n_demos,
                                 description="demos shown"))
            if p.demo_orders > 1:
                orders = {p.demo_order_key(order): order for order in range(p.demo_orders)}
                variables.append(Categorical("demo_order", orders, default=p.demo_order_key(p.demo_order),
                                             when={"n_demos": list(range(1, p.demo_limit + 1))},
                                             description="which demos (the first n_demos of an ordering)"))
        ranges = p.ranges
        if ranges.temperature is not None:
            variables.append(_ranged(Float, "temperature", ranges.temperature, p.temperature, step=ranges.step))
        if ranges.top_p is not None:
            variables.append(_ranged(Float, "top_p", ranges.top_p, p.top_p, step=ranges.step))
        if ranges.max_tokens is not None:
            low, high = ranges.max_tokens
            log = low >= 1 and high >= 8 * low  # wide ranges: 4 vs 8 tokens matters more than 504 vs 508
            variables.append(_ranged(Int, "max_tokens", ranges.max_tokens, p.max_tokens, log=log))
        if len(p.models) > 1:
            variables.append(Categorical("model", list(p.models), default=p.model))
        if len(p.parsers) > 1:
            variables.append(Categorical("parser", list(p.parsers), default=p.parser))
        return Space(variables)

    def apply_configuration(self, configuration: Mapping[str, object]) -> PromptAdapter:
        """A new adapter around a new Prompt; the original Prompt is frozen and stays as it is."""
        space = self.extract_variables()
        valid = space.validate_configuration(configuration)
        changes: dict[str, Any] = {}
        for name, value in valid.items():
            variable = space[name]
            if isinstance(variable, Categorical):  # the key's choice: a text, an ordering, a model or parser name
                changes[name] = variable.resolve(value)
            elif isinstance(variable, Float):
                changes[name] = float(value)  # type: ignore[arg-type]
            elif isinstance(variable, Int):
                changes[name] = int(value)  # type: ignore[arg-type]
            else:
                changes[name] = value
        return PromptAdapter(dataclasses.replace(self.prompt, **changes))

    def evaluate(self, dataset: Sequence[object], metric: Metric, *, on_result: ResultCallback | None = None,
                 max_concurrency: int = 1) -> Evaluation:
        """One call per example (or a cache hit); a failing example scores 0 and is counted."""
        prompt = self.prompt

        def run_example(example: object) -> Any:
            return prompt.reply(example).prediction

        return evaluate_examples(dataset, run_example, metric, on_result=on_result, max_concurrency=max_concurrency)

    def to_native(self) -> Prompt:
        """The configured Prompt, ready to use in the application."""
        return self.prompt


def _ranged(kind: type[Float] | type[Int], name: str, bounds: tuple[Any, Any], current: Any, **options: Any
            ) -> Float | Int:
    low, high = bounds
    if not low <= current <= high:
        raise InvalidVariable(
            f"the Prompt's {name}={current!r} is outside its search range [{low}, {high}]; "
            f"widen it with ranges=SearchRanges({name}=(...)) or set ranges.{name}=None to not search it"
        )
    if kind is Float:
        step = options.get("step")
        if step is not None and abs((high - low) / step - round((high - low) / step)) > 1e-6:
            options["step"] = None  # a range that is not a whole number of steps: search continuously
        return Float(name=name, low=float(low), high=float(high), default=float(current), **options)
    return Int(name=name, low=int(low), high=int(high), default=int(current), **options)


__all__ = ["PromptAdapter"]
