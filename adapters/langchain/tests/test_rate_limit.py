"""SharedRateLimiter: a chat model's rate_limiter= paced on the study's shared clock."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from langchain_core.output_parsers import StrOutputParser

from stacktune import RateLimit, create_study
from stacktune.shared import MemoryState, using
from stacktune_langchain import LangChainAdapter, SharedRateLimiter
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric

from .conftest import quiz_prompt


def frozen(limiter: SharedRateLimiter) -> list[float]:
    """Stop the limiter's clock at 1000 s and record its sleeps instead of sleeping."""
    slept: list[float] = []
    limiter.limiter._clock = lambda: 1000.0
    limiter.limiter._sleep = slept.append
    return slept


def test_every_call_of_every_trial_waits_its_place_on_the_studys_pace(tmp_path: object) -> None:
    key = f"pytest-{uuid.uuid4().hex[:8]}"
    limiter = SharedRateLimiter(RateLimit(requests_per_minute=60_000, burst=0.001), key=key)  # 1 ms a request
    frozen(limiter)
    chain = quiz_prompt() | QuizChatModel(rate_limiter=limiter) | StrOutputParser()
    study = create_study(storage=f"sqlite:///{tmp_path}/s.db", study_name="paced", seed=0)
    study.optimize(LangChainAdapter(chain), quiz_dataset()[:6], quiz_metric, n_trials=3)
    calls = study.spent.calls
    reserved = study.shared_state.values(f"ratelimit:{key}")["requests"]
    assert calls > 0 and reserved == pytest.approx(1000.0 + calls * 0.001), "one place per call, beside the storage"


def test_without_blocking_a_call_that_would_wait_is_refused_at_once() -> None:
    limiter = SharedRateLimiter(RateLimit(requests_per_minute=60, burst=1), key=f"pytest-{uuid.uuid4().hex[:8]}")
    slept = frozen(limiter)
    with using(MemoryState()):
        assert limiter.acquire(blocking=False)
        assert not limiter.acquire(blocking=False)
        assert limiter.acquire() and slept == [1.0]
        assert not asyncio.run(limiter.aacquire(blocking=False))
