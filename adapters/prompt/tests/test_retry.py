"""Retries for in-process clients: transient errors retried with backoff, others not, failures counted."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stacktune_prompt import Prompt, PromptAdapter, RetryPolicy, TransientError, is_transient
from stacktune_prompt.testing import FlakyModel, KeywordSentimentModel

from .conftest import accuracy


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.mark.parametrize("error", [ConnectionError, TimeoutError, TransientError("busy")])
def test_a_client_failing_twice_then_answering_succeeds(
    make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel, error: type[Exception] | Exception
) -> None:
    flaky = FlakyModel(fake, failures=2, error=error)
    sleeps = Sleeps()
    prompt = make_prompt(
        model=flaky, n_demos=0, retry=RetryPolicy(attempts=3, initial_wait=0.25, jitter=0.0, sleep=sleeps)
    )
    assert prompt({"text": "great", "label": "positive"}) == "positive"
    assert flaky.attempts == 3 and fake.calls == 1
    assert sleeps == [0.25, 0.5]


def test_a_client_failing_more_than_the_attempts_fails_the_example_only(
    make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel, examples: list[dict[str, str]]
) -> None:
    flaky = FlakyModel(fake, failures=3)
    evaluation = PromptAdapter(make_prompt(model=flaky, n_demos=0)).evaluate(examples, accuracy)
    assert flaky.attempts == 3 + len(examples) - 1  # the first example used all 3 attempts
    assert evaluation.scores[0] == 0.0 and evaluation.scores[1:] == (1.0,) * (len(examples) - 1)
    assert [(f.index, f.error_type) for f in evaluation.failures] == [(0, "ConnectionError")]
    assert evaluation.usage.calls == flaky.attempts  # every attempt is a call: a call budget counts them all
    assert evaluation.usage.failed_calls == 3 and evaluation.usage.answered_calls == len(examples) - 1


def test_other_errors_are_not_retried(make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel) -> None:
    flaky = FlakyModel(fake, failures=1, error=ValueError("bad request"))
    with pytest.raises(ValueError, match="bad request"):
        make_prompt(model=flaky).reply({"text": "x"})
    assert flaky.attempts == 1


def test_waits_grow_exponentially_are_capped_and_jittered() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=6, initial_wait=1.0, max_wait=5.0, jitter=0.5, sleep=sleeps)
    calls: list[int] = []

    def always_busy() -> None:
        calls.append(1)
        raise TransientError("busy")

    with pytest.raises(TransientError):
        policy.call(always_busy)
    assert len(calls) == 6 and len(sleeps) == 5
    for wait, base in zip(sleeps, [1.0, 2.0, 4.0, 5.0, 5.0]):
        assert base <= wait <= base + 0.5


def test_policy_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="attempts must be >= 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="waits must be >= 0"):
        RetryPolicy(initial_wait=-1)
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert not is_transient(ValueError()) and not is_transient(KeyError())
