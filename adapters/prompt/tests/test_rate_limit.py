"""Endpoint(rate_limit=...): every HTTP attempt waits its place on the endpoint's shared pace."""

from __future__ import annotations

import httpx
import pytest

from stacktune import RateLimit
from stacktune.shared import MemoryState, using
from stacktune_prompt import Endpoint, Prompt, RetryPolicy


def ok(prompt_tokens: int = 11, completion_tokens: int = 2) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "positive"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def paced_prompt(limit: RateLimit, *responses: httpx.Response) -> tuple[Prompt, list[float]]:
    """A prompt on a rate-limited endpoint whose clock stands still at 1000 s and whose sleeps are recorded."""
    answers = iter(responses)
    endpoint = Endpoint(
        "http://llm.test/v1", "gpt-4o-mini", rate_limit=limit, transport=httpx.MockTransport(lambda _: next(answers))
    )
    slept: list[float] = []
    assert endpoint._limiter is not None
    endpoint._limiter._clock = lambda: 1000.0
    endpoint._limiter._sleep = slept.append
    retry = RetryPolicy(attempts=2, initial_wait=0, jitter=0, sleep=lambda _: None)
    prompt = Prompt(instructions="Classify.", template="{text}", model=endpoint, retry=retry, cache=False, max_tokens=5)
    return prompt, slept


def test_calls_past_the_burst_wait_for_their_place() -> None:
    prompt, slept = paced_prompt(RateLimit(requests_per_minute=60, burst=1), ok(), ok(), ok())
    with using(MemoryState()):
        for text in ("a", "b", "c"):
            prompt.reply({"text": text})
    assert [round(s, 6) for s in slept] == [1.0, 2.0]


def test_a_retried_attempt_waits_its_place_too() -> None:
    prompt, _ = paced_prompt(RateLimit(requests_per_minute=60), httpx.Response(429, text="slow down"), ok())
    with using(MemoryState()) as state:
        prompt.reply({"text": "a"})
        assert state.values("ratelimit:http://llm.test/v1|gpt-4o-mini")["requests"] == pytest.approx(1002.0)


def test_the_token_estimate_is_settled_with_the_answers_usage() -> None:
    prompt, _ = paced_prompt(RateLimit(tokens_per_minute=600), ok(11, 2), ok(11, 2))  # 0.1 s a token
    with using(MemoryState()) as state:
        prompt.reply({"text": "a"})
        prompt.reply({"text": "b"})
        tokens = state.values("ratelimit:http://llm.test/v1|gpt-4o-mini")["tokens"]
    assert tokens == pytest.approx(1000.0 + 2 * 13 * 0.1), "13 tokens each, whatever was estimated"


def test_an_endpoint_with_a_rate_limit_still_pickles() -> None:
    import pickle

    endpoint = Endpoint("http://llm.test/v1", "m", rate_limit=RateLimit(requests_per_minute=10))
    assert pickle.loads(pickle.dumps(endpoint)).rate_limit == RateLimit(requests_per_minute=10)
