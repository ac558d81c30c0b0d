"""DSPy's LM callback hook on stacktune's shared pace."""

from __future__ import annotations

from typing import Any

from dspy.utils.callback import BaseCallback

from stacktune.ratelimit import RateLimit, RateLimiter, estimate_tokens


class RateLimitCallback(BaseCallback):  # type: ignore[misc]  # dspy ships no type information
    """An LM callback (``dspy.LM(..., callbacks=[RateLimitCallback(RateLimit(...), key=...)])``) that paces its calls.

    DSPy has no rate-limiter hook; its callbacks run before every LM call, so each call waits its
    place here, on the study's shared pace inside a study's trials (every worker of the study
    shares it) and on the process's elsewhere. Tokens are paced by an estimate (the messages'
    text and ``max_tokens``). It blocks the calling thread, which is how the DSPy adapter
    evaluates (threads); it paces DSPy's answers served from its own cache too, and not
    LiteLLM's retries inside one call.
    """

    def __init__(self, limit: RateLimit, key: str) -> None:
        self.limiter = RateLimiter(key, limit)

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        max_tokens = inputs.get("max_tokens", getattr(instance, "kwargs", {}).get("max_tokens"))
        self.limiter.acquire(estimate_tokens(inputs.get("messages"), max_tokens))


__all__ = ["RateLimitCallback"]
