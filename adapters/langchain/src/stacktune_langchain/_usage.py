"""Counting LLM calls and tokens of one run with a callback handler of our own.

``get_usage_metadata_callback`` keys usage by model name and drops answers without
one (fakes, some OpenAI-compatible servers); this handler sums every answer. Token
counts come from ``AIMessage.usage_metadata`` and, failing that, from the provider's
``llm_output["token_usage"]``. Each call is priced by ``stacktune.pricing`` from its
model name and provider (the user's ``prices`` first); a model priced nowhere is an
unpriced call. An answer served from a cache (stacktune's marks it, and LangChain zeroes
its cost) is counted as a cache hit: its tokens and cost are reported as cached.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from stacktune import ModelCall, Usage
from stacktune.pricing import Prices, call_cost
from stacktune_langchain._cache import CACHE_HIT


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class UsageCallbackHandler(BaseCallbackHandler):
    """Sums calls, tokens and cost of every LLM call it sees.

    One handler per example: pass it in ``config={"callbacks": [handler]}``. It is
    thread-safe because a chain may call several models at once.
    """

    run_inline = True  # in async code, count in the event loop, not in a thread

    def __init__(self, prices: Prices | None = None) -> None:
        self._prices = dict(prices or {})
        self._lock = threading.Lock()
        self.calls = 0
        self.failed_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.unpriced_calls = 0
        self.cache_hits = 0
        self.cached_tokens = 0
        self.cached_cost_usd = 0.0
        self.model_names: list[str] = []

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        input_tokens, output_tokens, model_name, provider, cached = _tokens_of(response)
        priced = call_cost(model_name, input_tokens, output_tokens, provider=provider, prices=self._prices)
        cost = priced or 0.0
        with self._lock:
            self.calls += 1
            self.input_tokens += input_tokens
            self.output_tokens += output_tokens
            self.cost_usd += cost
            self.unpriced_calls += priced is None
            if model_name:
                self.model_names.append(model_name)
            if cached:
                self.cache_hits += 1
                self.cached_tokens += input_tokens + output_tokens
                self.cached_cost_usd += cost

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """A failed call was still a call (and may have been billed)."""
        with self._lock:
            self.calls += 1
            self.failed_calls += 1
            self.unpriced_calls += 1

    def usage(self) -> Usage:
        """What this handler has seen so far (no latency: the runner times each example)."""
        with self._lock:
            return Usage(
                calls=self.calls,
                failed_calls=self.failed_calls,
                input_tokens=self.input_tokens,
                output_tokens=self.output_tokens,
                cost_usd=self.cost_usd,
                unpriced_calls=self.unpriced_calls,
                cache_hits=self.cache_hits,
                cached_tokens=self.cached_tokens,
                cached_cost_usd=self.cached_cost_usd,
            )


def _tokens_of(response: LLMResult) -> tuple[int, int, str | None, str | None, bool]:
    """Input tokens, output tokens, model name, provider and whether the answer came from the cache."""
    input_tokens = output_tokens = 0
    found = cached = False
    llm_output = response.llm_output or {}
    model_name = llm_output.get("model_name") if isinstance(llm_output.get("model_name"), str) else None
    provider: str | None = None
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            metadata = getattr(message, "usage_metadata", None)
            if metadata:
                found = True
                input_tokens += _int(metadata.get("input_tokens"))
                output_tokens += _int(metadata.get("output_tokens"))
                cached = cached or ("total_cost" in metadata and metadata.get("total_cost") == 0)
            response_metadata = getattr(message, "response_metadata", None) or {}
            cached = cached or bool(response_metadata.get(CACHE_HIT))
            name, source = response_metadata.get("model_name"), response_metadata.get("model_provider")
            if model_name is None and isinstance(name, str):
                model_name = name
            if provider is None and isinstance(source, str):
                provider = source
    if not found:
        token_usage = llm_output.get("token_usage") or llm_output.get("usage") or {}
        if isinstance(token_usage, Mapping):
            input_tokens = _int(token_usage.get("prompt_tokens", token_usage.get("input_tokens")))
            output_tokens = _int(token_usage.get("completion_tokens", token_usage.get("output_tokens")))
    return input_tokens, output_tokens, model_name, provider, cached


class CallRecorder(BaseCallbackHandler):
    """Records what each chat model call was sent (messages, invocation parameters) and answered.

    For the export check (``stacktune.exportcheck``): the parameters are LangChain's own
    ``invocation_params``, so a knob that did not reach the model shows up as a difference.
    """

    run_inline = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[UUID, tuple[tuple[tuple[str, str], ...], dict[str, Any]]] = {}
        self._order: list[UUID] = []
        self._answers: dict[UUID, str] = {}

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Keep the messages and the invocation parameters of one call."""
        parameters = dict(kwargs.get("invocation_params") or {})
        sent = tuple((m.type, str(m.text)) for m in messages[0]) if messages else ()
        with self._lock:
            self._sent[run_id] = (sent, parameters)
            self._order.append(run_id)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Keep the answer's text."""
        text = response.generations[0][0].text if response.generations and response.generations[0] else ""
        with self._lock:
            self._answers[run_id] = text

    def calls(self) -> list[ModelCall]:
        """The calls seen, in the order they started."""
        with self._lock:
            return [
                ModelCall(self._sent[run][0], self._sent[run][1], self._answers.get(run, "")) for run in self._order
            ]


__all__ = ["CallRecorder", "UsageCallbackHandler"]
