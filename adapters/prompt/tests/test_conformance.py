"""The stacktune conformance suite on a Prompt over the offline keyword fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stacktune import FREE
from stacktune_conformance import OptimizableTests
from stacktune_prompt import Endpoint, OutputFormat, Prompt, PromptAdapter, RetryPolicy
from stacktune_prompt.testing import KeywordSentimentModel, sentiment_examples


class TestPromptAdapter(OptimizableTests):
    @pytest.fixture
    def optimizable(self) -> PromptAdapter:
        word = OutputFormat(str.strip, instructions="Answer positive or negative.", answer="{label}")
        sentence = OutputFormat(
            lambda text: text.split()[-1].strip(".") if text else "", answer="The review is {label}."
        )
        return PromptAdapter(
            Prompt(
                instructions="Classify the sentiment.",
                instruction_candidates=["You are a helpful assistant."],
                template="Review: {text}",
                model=KeywordSentimentModel(raise_on="boom"),
                parsers={"word": word, "sentence": sentence},
                demos=sentiment_examples()[4:],
                n_demos=1,
                max_tokens=8,
                cache=False,
                retry=RetryPolicy(attempts=1),
            )
        )

    @pytest.fixture
    def dataset(self) -> list[dict[str, str]]:
        return sentiment_examples()[:4]

    @pytest.fixture
    def metric(self) -> Callable[[Any, Any], float]:
        return lambda example, prediction: float(prediction == example["label"])

    @pytest.fixture
    def at_fault_server(self) -> Callable[[str], PromptAdapter]:
        def at(base_url: str) -> PromptAdapter:
            endpoint = Endpoint(base_url, "fault-model", timeout=1.0, price=FREE)
            retry = RetryPolicy(attempts=2, initial_wait=0.0, jitter=0.0)
            return PromptAdapter(
                Prompt(instructions="Classify.", template="Review: {text}", model=endpoint, retry=retry, cache=False)
            )

        return at

    @pytest.fixture
    def failing_example(self) -> dict[str, str]:
        return {"text": "boom", "label": "positive"}
