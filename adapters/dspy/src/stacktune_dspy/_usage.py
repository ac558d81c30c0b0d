"""What one example cost, read from DSPy's own LM history.

DSPy appends every finished LM call to the history of the LM *and* of each module in
``settings.caller_modules``. Putting a fresh :class:`HistorySink` first in that list
(inside ``dspy.context``, so per thread) collects exactly the calls of one example,
whatever LM objects the program uses and however many threads run at once. Each
entry carries the provider's token counts and the LM's model name, priced by
``stacktune.pricing`` (the user's ``prices`` first, then the shared table; a model with
no known price is an unpriced call); an answer served from DSPy's cache has empty
``usage`` but keeps the stored response, whose token counts we report as cached.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeGuard

from dspy.utils.callback import BaseCallback

from stacktune import ModelCall, Usage
from stacktune.pricing import Prices, call_cost


class HistorySink(BaseCallback):  # type: ignore[misc]  # dspy ships no type information
    """Stands in a ``caller_modules`` list to receive the LM history entries of one example.

    Failed LM calls never reach a history: as a DSPy callback too (``dspy.context(callbacks=...)``),
    the sink counts them, so that every attempt counts toward a call budget.
    """

    def __init__(self, prices: Prices | None = None) -> None:
        self.history: list[dict[str, Any]] = []
        self.prices = prices
        self.failed = 0
        self._lock = threading.Lock()

    def on_lm_end(self, call_id: str, outputs: dict[str, Any] | None, exception: BaseException | None = None) -> None:
        """Count an LM call that raised (a server error, a timeout, a refused key)."""
        if exception is not None:
            with self._lock:
                self.failed += 1

    def usage(self) -> Usage:
        failed = Usage(calls=self.failed, failed_calls=self.failed)
        return usage_from_history(self.history, prices=self.prices) + failed


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: object) -> int:
    return int(value) if _is_number(value) else 0


def _tokens_of_usage(usage: Mapping[str, Any]) -> tuple[int, int]:
    inputs = usage.get("prompt_tokens", usage.get("input_tokens"))
    outputs = usage.get("completion_tokens", usage.get("output_tokens"))
    return _count(inputs), _count(outputs)


def _tokens_of_response(response: object) -> tuple[int, int] | None:
    """Token counts kept in a stored response (lm15 Response or an OpenAI-shaped object/dict)."""
    usage = response.get("usage") if isinstance(response, Mapping) else getattr(response, "usage", None)
    if usage is None:
        return None
    if isinstance(usage, Mapping):
        counts = _tokens_of_usage(usage)
    else:
        inputs = getattr(usage, "input_tokens", None)
        if inputs is None:
            inputs = getattr(usage, "prompt_tokens", None)
        outputs = getattr(usage, "output_tokens", None)
        if outputs is None:
            outputs = getattr(usage, "completion_tokens", None)
        counts = (_count(inputs), _count(outputs))
    return counts if any(counts) else None


def usage_from_history(entries: Iterable[Mapping[str, Any]], *, prices: Prices | None = None) -> Usage:
    """Sum DSPy history entries into a stacktune Usage (no latencies: the caller times examples).

    Each call is priced from its tokens and its LM's model name (``prices`` first).
    """
    calls = input_tokens = output_tokens = unpriced = cache_hits = cached_tokens = 0
    cost = cached_cost = 0.0
    for entry in entries:
        calls += 1
        usage = entry.get("usage") or {}
        cached = False
        if usage:
            inputs, outputs = _tokens_of_usage(usage)
        else:
            stored = _tokens_of_response(entry.get("response"))
            cached = stored is not None
            inputs, outputs = stored or (0, 0)
        input_tokens += inputs
        output_tokens += outputs
        model = entry.get("model")
        price = call_cost(model if isinstance(model, str) else None, inputs, outputs, prices=prices)
        if price is None:
            unpriced += 1
        else:
            cost += price
        if cached:
            cache_hits += 1
            cached_tokens += inputs + outputs
            if price is not None:
                cached_cost += price
    return Usage(
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        unpriced_calls=unpriced,
        cache_hits=cache_hits,
        cached_tokens=cached_tokens,
        cached_cost_usd=cached_cost,
    )


class LMCallRecorder(BaseCallback):  # type: ignore[misc]
    """A DSPy callback keeping what each LM call was sent and answered, for the export check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, tuple[tuple[tuple[str, str], ...], dict[str, Any]]] = {}
        self._order: list[str] = []
        self._answers: dict[str, str] = {}

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Keep the messages and the parameters: the LM's own settings, the call's over them, the model."""
        parameters = {**dict(getattr(instance, "kwargs", {}) or {}), **dict(inputs.get("kwargs") or {})}
        parameters["model"] = getattr(instance, "model", None)
        messages = tuple((str(m.get("role")), str(m.get("content"))) for m in inputs.get("messages") or ())
        with self._lock:
            self._sent[call_id] = (messages, parameters)
            self._order.append(call_id)

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        """Keep the first answer's text."""
        first = outputs[0] if isinstance(outputs, list) and outputs else outputs
        text = first.get("text", "") if isinstance(first, Mapping) else str(first or "")
        with self._lock:
            self._answers[call_id] = text

    def calls(self) -> list[ModelCall]:
        """The calls seen, in the order they started."""
        with self._lock:
            return [ModelCall(self._sent[c][0], self._sent[c][1], self._answers.get(c, "")) for c in self._order]


__all__ = ["HistorySink", "usage_from_history"]
