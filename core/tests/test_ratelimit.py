"""Rate limits: calls paced on a shared clock, by threads, by processes (SQL, PostgreSQL, Redis), inside studies."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stacktune import RateLimit, RateLimiter, create_study
from stacktune.ratelimit import estimate_tokens
from stacktune.shared import MemoryState, SharedState, current_state, open_shared_state
from stacktune.testing import ToyProgram, toy_dataset, toy_metric


class FrozenClock:
    """Time stands still; sleeps are recorded, not slept."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


def limiter(limit: RateLimit, state: SharedState, clock: FrozenClock, key: str = "") -> RateLimiter:
    return RateLimiter(key or f"pytest-{uuid.uuid4().hex[:8]}", limit, state=state, clock=clock, sleep=clock.sleep)


class TestPacing:
    def test_calls_past_the_burst_wait_their_turn(self) -> None:
        clock = FrozenClock()
        paced = limiter(RateLimit(requests_per_minute=60, burst=3), MemoryState(), clock)
        for _ in range(6):
            paced.acquire()
        assert clock.slept == [1.0, 2.0, 3.0], "3 at once (the burst), then one a second"

    def test_tokens_are_paced_too_and_settled_with_the_real_count(self) -> None:
        clock, state = FrozenClock(), MemoryState()
        paced = limiter(RateLimit(tokens_per_minute=600, burst=1), state, clock)  # 10 tokens a second
        first = paced.acquire(tokens=20)
        assert clock.slept == [1.0], "20 tokens is 2 s of the limit: 1 s past the burst"
        first.settle(10)  # it used half: the clock moves back 1 s
        paced.acquire(tokens=10)
        assert clock.slept == [1.0, 1.0]

    def test_two_limiters_for_one_endpoint_share_the_pace(self) -> None:
        clock, state = FrozenClock(), MemoryState()
        a = limiter(RateLimit(requests_per_minute=60, burst=1), state, clock, key="pytest-endpoint")
        b = limiter(RateLimit(requests_per_minute=60, burst=1), state, clock, key="pytest-endpoint")
        a.acquire()
        b.acquire()
        a.acquire()
        assert clock.slept == [1.0, 2.0]
        assert a.would_wait()

    def test_threads_get_distinct_places(self) -> None:
        clock, state = FrozenClock(), MemoryState()
        paced = limiter(RateLimit(requests_per_minute=600, burst=0.1), state, clock)
        waits: list[float] = []
        lock = threading.Lock()

        def call() -> None:
            for _ in range(5):
                reservation = paced.reserve()
                with lock:
                    waits.append(round(reservation.wait, 6))

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(waits) == [round(0.1 * i, 6) for i in range(20)], "one place per call, none shared"

    def test_asyncio_callers_wait_without_blocking_the_loop(self) -> None:
        clock = FrozenClock()
        paced = limiter(RateLimit(requests_per_minute=60_000, burst=0.001), MemoryState(), clock)

        async def calls() -> list[float]:
            return [(await paced.aacquire()).wait for _ in range(3)]

        assert [round(w, 6) for w in asyncio.run(calls())] == [0.0, 0.001, 0.002]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "requests_per_minute or tokens_per_minute"),
            ({"requests_per_minute": 0}, "requests_per_minute must be a number > 0"),
            ({"tokens_per_minute": float("nan")}, "tokens_per_minute must be a number > 0"),
            ({"requests_per_minute": 10, "burst": -1}, "burst must be a number > 0"),
            ({"requests_per_minute": True}, "requests_per_minute must be a number > 0"),
        ],
    )
    def test_bad_limits_are_refused_naming_the_field(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            RateLimit(**kwargs)

    def test_a_limiter_needs_a_key(self) -> None:
        with pytest.raises(ValueError, match="needs a key"):
            RateLimiter("", RateLimit(requests_per_minute=1))

    def test_a_request_is_estimated_from_its_text_and_max_tokens(self) -> None:
        assert estimate_tokens([{"role": "user", "content": "x" * 40}], 16) == 10 + 16
        assert estimate_tokens(None) == 0


class TestAcrossProcesses:
    """Two states on one database or Redis are two processes, as far as the pace knows."""

    @pytest.fixture(params=["sqlite", "postgres", "redis"])
    def states(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SharedState, SharedState]]:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path}/pace.db"
        elif request.param == "postgres":
            url = request.getfixturevalue("postgres_url").replace("postgresql://", "postgresql+psycopg://")
        else:
            url = request.getfixturevalue("redis_url")
        from stacktune.shared import RedisState, SqlState

        first = open_shared_state(url)
        second = RedisState(url) if url.startswith("redis") else SqlState.from_url(url)  # its own connections
        yield first, second
        second.close()

    def test_workers_on_one_storage_share_one_pace(self, states: tuple[SharedState, SharedState]) -> None:
        clock = FrozenClock()
        key = f"pytest-{uuid.uuid4().hex[:8]}"
        a, b = (limiter(RateLimit(requests_per_minute=60, burst=1), state, clock, key=key) for state in states)
        for _ in range(3):
            a.acquire()
            b.acquire()
        assert clock.slept == [1.0, 2.0, 3.0, 4.0, 5.0], "six calls, one pace, whichever process made them"


def paced_metric(example: float, prediction: float) -> float:
    """The toy's metric, after a call through a rate-limited endpoint (it runs inside the example)."""
    RateLimiter("pytest-study-endpoint", RateLimit(requests_per_minute=6_000_000)).acquire()
    return toy_metric(example, prediction)


def test_inside_a_study_the_pace_is_the_studys(tmp_path: Path) -> None:
    study = create_study(storage=f"sqlite:///{tmp_path}/s.db", study_name="paced")
    study.optimize(ToyProgram(), toy_dataset(5), paced_metric, n_trials=2, max_concurrency=2)
    assert "requests" in study.shared_state.values("ratelimit:pytest-study-endpoint"), "kept beside the storage"
    assert current_state() is not study.shared_state, "outside the trials, the process's own"
    assert not current_state().values("ratelimit:pytest-study-endpoint")


def test_outside_a_study_the_pace_is_the_processs() -> None:
    paced = RateLimiter(f"pytest-{uuid.uuid4().hex[:8]}", RateLimit(requests_per_minute=6_000_000))
    paced.acquire()
    assert paced.state is current_state() and paced.state.values(paced.scope)
