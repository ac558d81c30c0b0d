"""LangChain's rate-limiter hook on stacktune's shared pace."""

from __future__ import annotations

from langchain_core.rate_limiters import BaseRateLimiter

from stacktune.ratelimit import RateLimit, RateLimiter


class SharedRateLimiter(BaseRateLimiter):
    """A chat model's ``rate_limiter=`` that paces calls with every thread and worker of the study.

    ``ChatOpenAI(..., rate_limiter=SharedRateLimiter(RateLimit(requests_per_minute=500), key="openai/gpt-4o-mini"))``:
    inside a study's trials the pace is kept in the study's shared state (its storage, or Redis),
    so N workers share one limit; elsewhere the process's threads share it. LangChain asks a rate
    limiter before each request and tells it nothing of tokens, so only ``requests_per_minute``
    applies here (a ``tokens_per_minute`` is for the prompt adapter's ``Endpoint``).
    """

    def __init__(self, limit: RateLimit, key: str) -> None:
        self.limiter = RateLimiter(key, limit)

    def acquire(self, *, blocking: bool = True) -> bool:
        """Wait for this request's place; without ``blocking``, False at once when it would have to wait."""
        if not blocking and self.limiter.would_wait():
            return False
        self.limiter.acquire()
        return True

    async def aacquire(self, *, blocking: bool = True) -> bool:
        """:meth:`acquire` without blocking the event loop."""
        if not blocking and self.limiter.would_wait():
            return False
        await self.limiter.aacquire()
        return True


__all__ = ["SharedRateLimiter"]
