"""Shared fixtures: a deterministic fake model and a Prompt factory writing its cache to tmp."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacktune_prompt import OutputFormat, Prompt, RetryPolicy, SearchRanges
from stacktune_prompt.testing import KeywordSentimentModel, sentiment_examples

INSTRUCTIONS = ["Classify the sentiment of the review.", "You are a helpful assistant."]


def parse_label(text: str) -> str | None:
    for word in text.lower().replace(".", " ").split():
        if word in ("positive", "negative"):
            return word
    return None


FORMATS = {
    "word": OutputFormat(parse_label, instructions="Answer positive or negative.", answer="{label}"),
    "sentence": OutputFormat(parse_label, answer="The review is {label}."),
}

NO_WAIT = RetryPolicy(attempts=3, initial_wait=0.0, jitter=0.0)


def accuracy(example: dict[str, Any], prediction: object) -> bool:
    return prediction == example["label"]


@pytest.fixture
def fake() -> KeywordSentimentModel:
    return KeywordSentimentModel()


@pytest.fixture
def examples() -> list[dict[str, str]]:
    return sentiment_examples()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_prompt(fake: KeywordSentimentModel, cache_dir: Path) -> Callable[..., Prompt]:
    """A Prompt over the fake with two instructions, two formats and a demo pool of four."""

    def make(**overrides: Any) -> Prompt:
        settings: dict[str, Any] = {
            "instructions": INSTRUCTIONS[0],
            "instruction_candidates": INSTRUCTIONS,
            "template": "Review: {text}",
            "model": fake,
            "parsers": FORMATS,
            "demos": sentiment_examples()[:4],
            "n_demos": 1,
            "temperature": 0.0,
            "max_tokens": 16,
            "ranges": SearchRanges(max_tokens=(1, 1024)),  # the fake answers in a few words: search short answers
            "cache": cache_dir,
            "retry": NO_WAIT,
        }
        settings.update(overrides)
        return Prompt(**settings)

    return make
