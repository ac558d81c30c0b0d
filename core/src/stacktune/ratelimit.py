"""Rate limits shared by every thread and process that calls one endpoint.

A provider limits requests and tokens per minute. Workers that each back off on their own
429s still hit the wall together, and every 429 is a wasted attempt that a call budget
counts. So calls are paced before they are made: each one reserves its place on a clock
per endpoint and dimension (the generic cell rate algorithm: the clock is the time the next
call may start; a reservation moves it on by the call's cost and is one atomic step) and
sleeps until its place comes.

The clocks live in a :class:`~stacktune.shared.SharedState`: inside a study's trial, the
study's own (so every worker of the study, on any machine, shares the pace through its
storage or Redis); anywhere else, this process's (its threads share it). Clocks are wall
time (``time.time()``): machines that share one need synchronized clocks (NTP).

Adapters use it through :class:`RateLimiter`: the prompt adapter's ``Endpoint(rate_limit=...)``
directly, LangChain through ``stacktune_langchain.SharedRateLimiter`` (a chat model's
``rate_limiter=``), DSPy through ``stacktune_dspy.RateLimitCallback`` (an LM callback).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from stacktune.shared import SharedState, current_state


@dataclass(frozen=True)
class RateLimit:
    """Requests and tokens per minute that one endpoint allows (either may be None: no limit).

    ``burst`` is how many seconds' worth of the limit may start at once after a quiet spell
    (1 s: at 600 requests per minute, 10 at once, then one every 0.1 s); providers enforce
    per-minute limits over shorter windows, so a small burst is what avoids their 429s.
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    burst: float = 1.0

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute", "burst"):
            value = getattr(self, name)
            if value is None and name != "burst":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"RateLimit.{name} must be a number > 0, got {value!r}")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("RateLimit needs requests_per_minute or tokens_per_minute (or both)")


@dataclass
class Reservation:
    """One call's place in the pace: how long it waited, and how to correct its token estimate."""

    limiter: RateLimiter
    state: SharedState
    wait: float
    tokens: int

    def settle(self, tokens: int) -> None:
        """The call's real token count (prompt and answer): the estimate's error moves the clock back or on."""
        per_token = self.limiter.seconds_per_token
        if per_token is not None and tokens != self.tokens:
            self.state.add(self.limiter.scope, {"tokens": (tokens - self.tokens) * per_token})
            self.tokens = tokens


class RateLimiter:
    """Paces the calls to one endpoint (named by ``key``) to a :class:`RateLimit`.

    ``state`` fixes where the clocks live; by default they follow the caller (a study's shared
    state inside its trials, this process's elsewhere). ``clock`` and ``sleep`` are replaceable
    for tests.
    """

    def __init__(
        self,
        key: str,
        limit: RateLimit,
        *,
        state: SharedState | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not key:
            raise ValueError("RateLimiter needs a key: the endpoint its limit belongs to (its URL and model)")
        self.key = key
        self.limit = limit
        self.scope = f"ratelimit:{key}"
        self._state = state
        self._clock = clock
        self._sleep = sleep

    @property
    def seconds_per_request(self) -> float | None:
        """How far one request moves the requests clock (None: no request limit)."""
        rpm = self.limit.requests_per_minute
        return 60.0 / rpm if rpm else None

    @property
    def seconds_per_token(self) -> float | None:
        """How far one token moves the tokens clock (None: no token limit)."""
        tpm = self.limit.tokens_per_minute
        return 60.0 / tpm if tpm else None

    @property
    def state(self) -> SharedState:
        """Where the clocks are: the one given, else the caller's (a study's inside its trials)."""
        return self._state or current_state()

    def reserve(self, tokens: int = 0) -> Reservation:
        """Take the next place for one call of about ``tokens`` tokens; the reservation says how long to wait."""
        state, now = self.state, self._clock()
        wait = 0.0
        for name, per_unit, units in (
            ("requests", self.seconds_per_request, 1),
            ("tokens", self.seconds_per_token, tokens),
        ):
            if per_unit is not None and units > 0:
                start = state.reserve(self.scope, name, per_unit * units, now)
                wait = max(wait, start - self.limit.burst - now)
        return Reservation(self, state, wait, tokens)

    def would_wait(self) -> bool:
        """Whether one more request now would have to wait (without reserving anything)."""
        values, now = self.state.values(self.scope), self._clock()
        next_request = max(values.get("requests", now), now) + (self.seconds_per_request or 0.0)
        return max(next_request, values.get("tokens", now)) - self.limit.burst > now

    def acquire(self, tokens: int = 0) -> Reservation:
        """Wait for this call's place (``tokens``: an estimate; :meth:`Reservation.settle` corrects it)."""
        reservation = self.reserve(tokens)
        if reservation.wait > 0:
            self._sleep(reservation.wait)
        return reservation

    async def aacquire(self, tokens: int = 0) -> Reservation:
        """:meth:`acquire` for asyncio code: the event loop runs on while this call waits."""
        reservation = await asyncio.to_thread(self.reserve, tokens)
        if reservation.wait > 0:
            await asyncio.sleep(reservation.wait)
        return reservation


def estimate_tokens(messages: object, max_tokens: object = None) -> int:
    """About how many tokens a chat request may use: its text at ~4 characters a token, plus ``max_tokens``."""
    text = 0
    if isinstance(messages, (list, tuple)):
        for message in messages:
            content = message.get("content", "") if isinstance(message, dict) else message
            text += len(str(content))
    answer = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    return text // 4 + answer


__all__ = ["RateLimit", "RateLimiter", "Reservation", "estimate_tokens"]
