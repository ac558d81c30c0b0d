"""Offline fakes of chat models, for fast deterministic tests (yours and ours).

:class:`KeywordSentimentModel` behaves like a tiny, sensitive LLM so that a study has
something to find: it classifies by counting sentiment words, only when the system
text mentions "sentiment"; it answers in the demos' style; ``max_tokens`` truncates its
answer; a high temperature flips some answers. :class:`FlakyModel` fails a given number
of times before delegating, to exercise retries.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from stacktune_prompt._models import cache_identity as _identity_of
from stacktune_prompt._prompt import Prompt

POSITIVE_WORDS = frozenset({"good", "great", "love", "loved", "excellent", "wonderful", "happy", "best", "fun"})
NEGATIVE_WORDS = frozenset({"bad", "awful", "hate", "hated", "terrible", "boring", "worst", "broke", "poor"})


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


class KeywordSentimentModel:
    """A deterministic in-process "LLM" with ``create_chat_completion`` in OpenAI format.

    ``raise_on``: a word that makes it raise ValueError (an example the target fails on).
    ``calls`` counts the requests it answered (thread-safe).
    """

    def __init__(self, *, name: str = "keyword-fake", raise_on: str | None = None) -> None:
        self.name = name
        self.raise_on = raise_on
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeywordSentimentModel(name={self.name!r})"

    @property
    def cache_identity(self) -> str:
        """What the response cache knows this fake by: its class and name."""
        return f"fake:{type(self).__qualname__}:{self.name}"

    def create_chat_completion(
        self,
        *,
        messages: Sequence[Mapping[str, str]],
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 16,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """An OpenAI-format chat completion: the keyword verdict, shaped by the system text, demos and sampling."""
        question = messages[-1]["content"]
        if self.raise_on and self.raise_on in _words(question):
            raise ValueError(f"the fake model refuses {question!r}")
        system = " ".join(m["content"] for m in messages if m["role"] == "system")
        demo_answers = [m["content"] for m in messages if m["role"] == "assistant"]
        answer = self._answer(question, system, demo_answers, temperature, top_p, seed)
        answer = " ".join(answer.split()[:max_tokens])
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        with self._lock:
            self.calls += 1
            self.requests.append(
                {
                    "messages": list(messages),
                    "temperature": temperature,
                    "top_p": top_p,
                    "max_tokens": max_tokens,
                    "seed": seed,
                }
            )
        return {
            "object": "chat.completion",
            "model": self.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(answer.split()),
                "total_tokens": prompt_tokens + len(answer.split()),
            },
        }

    @staticmethod
    def _answer(
        question: str, system: str, demo_answers: Sequence[str], temperature: float, top_p: float, seed: int | None
    ) -> str:
        if "sentiment" not in system.lower():
            return "Thank you for sharing your thoughts with me today."
        words = _words(question)
        score = sum(w in POSITIVE_WORDS for w in words) - sum(w in NEGATIVE_WORDS for w in words)
        label = "positive" if score >= 0 else "negative"
        digest = hashlib.sha256(f"{question}|{seed}|{top_p}".encode()).digest()[0] / 255
        if temperature > 0.5 and digest < temperature - 0.5:
            label = "negative" if label == "positive" else "positive"
        if demo_answers and all(a.lower().startswith("the review is") for a in demo_answers):
            return f"The review is {label}."
        return label


class FlakyModel:
    """Raises ``error`` for the first ``failures`` calls, then answers like ``inner``."""

    def __init__(self, inner: Any, failures: int, error: type[Exception] | Exception = ConnectionError) -> None:
        self.inner = inner
        self.failures = failures
        self.error = error
        self.attempts = 0
        self._lock = threading.Lock()

    @property
    def cache_identity(self) -> str:
        """What the response cache knows this wrapper by: ``flaky:`` and the inner model's identity."""
        return f"flaky:{_identity_of(self.inner)}"

    def create_chat_completion(self, **kwargs: Any) -> Any:
        """Raise ``error`` while failures remain, then answer as ``inner`` does."""
        with self._lock:
            self.attempts += 1
            failing = self.attempts <= self.failures
        if failing:
            raise self.error if isinstance(self.error, Exception) else self.error("simulated transient failure")
        return self.inner.create_chat_completion(**kwargs)


def sentiment_examples() -> list[dict[str, str]]:
    """Eight tiny labelled reviews the keyword fake can classify."""
    return [
        {"text": "A great film, I loved it", "label": "positive"},
        {"text": "Terrible and boring", "label": "negative"},
        {"text": "Excellent sound, happy with it", "label": "positive"},
        {"text": "It broke on day one, awful", "label": "negative"},
        {"text": "The best fun I had all year", "label": "positive"},
        {"text": "Poor quality, I hate it", "label": "negative"},
        {"text": "Wonderful and good value", "label": "positive"},
        {"text": "The worst purchase, bad", "label": "negative"},
    ]


def sentiment_prompt(model: Any) -> Prompt:
    """A Prompt for :func:`sentiment_examples` with something to tune: two instructions, a demo pool."""
    return Prompt(
        instructions="Classify the sentiment of the review.",
        instruction_candidates=["You are a helpful assistant."],
        template="Review: {text}",
        model=model,
        demos=sentiment_examples()[:4],
        answer="{label}",
        n_demos=1,
        max_tokens=16,
    )


def label_in_answer(example: Mapping[str, Any], prediction: object) -> bool:
    """The metric for :func:`sentiment_examples`: the answer contains the example's label."""
    return str(example["label"]) in str(prediction).lower()


__all__ = [
    "FlakyModel",
    "KeywordSentimentModel",
    "NEGATIVE_WORDS",
    "POSITIVE_WORDS",
    "label_in_answer",
    "sentiment_examples",
    "sentiment_prompt",
]
