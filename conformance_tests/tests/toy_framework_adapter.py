"""A stacktune adapter for toy_framework: its Chain becomes tunable."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from toy_framework import Chain

import stacktune
from stacktune import Categorical, Evaluation, Int, Metric, Space, constraint, evaluate_examples, hookimpl
from stacktune import ResultCallback as OnResult
from stacktune.knobs import knob_variable


@constraint("calm_steps")
def calm_steps(config: Mapping[str, Any]) -> str | None:
    """A rule across variables: rejected before anything is spent."""
    if config.get("reasoning") == "steps" and config.get("temperature", 0.0) > 1.0:
        return "reasoning in steps needs temperature <= 1.0"
    return None


class ChainAdapter:
    """A Chain's knobs: prompt template, temperature, reasoning and its number of steps."""

    def __init__(self, chain: Chain, templates: Sequence[str] = ()) -> None:
        self.chain = chain
        # Candidate templates, the chain's current one included, under short keys of our own.
        texts = dict.fromkeys([*templates, chain.template])
        self.templates = {f"template{i}": text for i, text in enumerate(texts)}

    def extract_variables(self) -> Space:
        # Each default is the chain's current value.
        return Space(
            [
                Categorical("template", self.templates, default=self.chain.template),  # {key: text}
                knob_variable("temperature", "temperature", self.chain.temperature),  # the shared catalogue's range
                Categorical("reasoning", ["direct", "steps"], default=self.chain.reasoning),
                Int("steps", 1, 4, default=self.chain.steps, when={"reasoning": "steps"}),
            ],
            constraints=[calm_steps],
        )

    def apply_configuration(self, configuration: Mapping[str, object]) -> ChainAdapter:
        space = self.extract_variables()
        # Raises InvalidConfiguration naming the variable; missing names keep their value.
        changes: dict[str, Any] = space.validate_configuration(configuration)
        if "template" in changes:
            changes["template"] = self.templates[changes["template"]]  # choice key -> text
        # Chain is frozen: replace() makes a new one and the original never changes.
        return ChainAdapter(dataclasses.replace(self.chain, **changes), list(self.templates.values()))

    def evaluate(
        self, dataset: Sequence[Any], metric: Metric, *, on_result: OnResult | None = None, max_concurrency: int = 1
    ) -> Evaluation:
        def run_example(example: Any) -> str:
            reply = self.chain.invoke(example["question"])
            # Report what the call cost as soon as it is known: a failure after this point is paid for too.
            usage = stacktune.Usage(calls=1, input_tokens=reply.prompt_tokens, output_tokens=reply.completion_tokens)
            stacktune.record_usage(usage)
            return reply.text

        # Threads, failures, on_result, latency and budgets are handled by stacktune.
        return evaluate_examples(dataset, run_example, metric, on_result=on_result, max_concurrency=max_concurrency)

    async def aevaluate(self, dataset: Sequence[Any], metric: Metric, **options: Any) -> Evaluation:
        return await asyncio.to_thread(self.evaluate, dataset, metric, **options)  # its framework has no async API

    def to_native(self) -> Chain:
        return self.chain


@hookimpl
def stacktune_optimizable(target: object) -> ChainAdapter | None:
    """Lets stacktune.optimizable(chain) find this adapter (through the entry point)."""
    return ChainAdapter(target) if isinstance(target, Chain) else None
