"""DSPy's response cache hook on stacktune's response cache (:mod:`stacktune.cache`).

DSPy 3.4 looks every cached LM call up in the process-wide ``dspy.cache`` (a
``dspy.clients.cache.Cache``: ``get(request, ignored_args)`` / ``put(request, value, ...)``),
where ``request`` holds the model, the messages and every call setting (``lm.kwargs`` merged
with the call's). :class:`StacktuneDSPyCache` takes the place of ``dspy.cache`` (as
``dspy.configure_cache`` would) and wraps the cache it replaces: while a DSPy adapter runs an
example with a stacktune cache (the adapter's ``cache=``, else the study's inside a trial), the
answers live there, keyed by :func:`stacktune.cache.cache_key`; everywhere else DSPy's own
cache answers as before. An LM built with ``cache=False`` is never cached (DSPy does not ask).

A hit comes back the way DSPy's own hits do (empty ``usage``, the stored response and its
token counts), so the adapter reports it as a cache hit. Only DSPy's plain-data records
(the lm15 path) are kept in stacktune's cache; a LiteLLM response object stays in DSPy's own.
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dspy

from stacktune.cache import CachedResponse, CacheOption, ResponseCache, cache_key, resolve_cache

_OPTION: contextvars.ContextVar[CacheOption] = contextvars.ContextVar("stacktune_dspy_cache", default=False)
_LOCK = threading.Lock()

#: DSPy's mark of a plain-data record (``CallResult.dump``).
_FORMAT_KEY = "_dspy_format"


def request_key(request: Mapping[str, Any]) -> str:
    """The stacktune key of one DSPy cache request: the model, every setting that changes the answer, the messages.

    Both of DSPy's shapes are read: ``{"request": <lm15 request>, "rollout_id": ...}`` and the
    LiteLLM request (``model``, ``messages``, settings). Whether the call was sync or async does
    not change the answer, so it is not part of the key.
    """
    outer = {k: v for k, v in request.items() if k != "_fn_identifier"}
    kind = str(request.get("_fn_identifier", "")).replace(".async", "").replace("alitellm_", "litellm_")
    inner = outer.pop("request", None)
    body = dict(inner) if isinstance(inner, Mapping) else outer
    model = body.pop("model", None)
    messages = {name: body.pop(name) for name in ("system", "messages", "prompt", "input") if name in body}
    extra = outer if isinstance(inner, Mapping) else {}  # beside an lm15 request: rollout_id
    params = {**body, **extra, "kind": kind}
    return cache_key(f"dspy:{model}", params, messages)


def _tokens(record: Mapping[str, Any]) -> tuple[int, int]:
    usage = record.get("usage") or {}
    if not isinstance(usage, Mapping):
        return 0, 0
    inputs = usage.get("prompt_tokens", usage.get("input_tokens")) or 0
    outputs = usage.get("completion_tokens", usage.get("output_tokens")) or 0
    return int(inputs) if isinstance(inputs, (int, float)) else 0, int(outputs) if isinstance(
        outputs, (int, float)
    ) else 0


def _text(record: Mapping[str, Any]) -> str:
    outputs = record.get("outputs") or []
    parts = [o.get("text", "") if isinstance(o, Mapping) else str(o) for o in outputs]
    return "\n".join(p for p in parts if isinstance(p, str))


class StacktuneDSPyCache:
    """Stands in ``dspy.cache``: stacktune's cache while an adapter runs with one, the wrapped DSPy cache otherwise."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)  # reset_memory_cache, save_memory_cache...: DSPy's own cache

    @staticmethod
    def _store() -> ResponseCache | None:
        return resolve_cache(_OPTION.get())

    def get(self, request: dict[str, Any], ignored_args_for_cache_key: list[str] | None = None) -> Any:
        """The stored record (DSPy reads it as a hit), from stacktune's cache when one is in use."""
        store = self._store()
        if store is None:
            return self.wrapped.get(request, ignored_args_for_cache_key)
        try:
            key = request_key(request)
        except (TypeError, ValueError):
            return None
        entry = store.get(key)
        if entry is None or entry.payload is None:
            return None
        try:
            record = json.loads(entry.payload)
        except ValueError:
            return None
        return record if isinstance(record, dict) and _FORMAT_KEY in record else None

    def put(
        self,
        request: dict[str, Any],
        value: Any,
        ignored_args_for_cache_key: list[str] | None = None,
        enable_memory_cache: bool = True,
    ) -> None:
        """Store a fresh record with its token counts (a non-plain record goes to DSPy's own cache)."""
        store = self._store()
        if store is None or not (isinstance(value, dict) and _FORMAT_KEY in value):
            self.wrapped.put(request, value, ignored_args_for_cache_key, enable_memory_cache)
            return
        try:
            key = request_key(request)
            payload = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            return  # a record that is not plain data after all: not cached
        inputs, outputs = _tokens(value)
        store.put(key, CachedResponse(_text(value), inputs, outputs, 0.0, payload=payload))

    def __contains__(self, key: str) -> bool:
        return key in self.wrapped


def install() -> StacktuneDSPyCache:
    """Put a :class:`StacktuneDSPyCache` in ``dspy.cache`` (wrapping what is there), unless one is there already."""
    with _LOCK:
        current = dspy.cache
        if isinstance(current, StacktuneDSPyCache):
            return current
        ours = StacktuneDSPyCache(current)
        dspy.cache = ours
        return ours


@contextmanager
def caching(option: CacheOption) -> Iterator[None]:
    """Inside: DSPy's cached calls use stacktune's cache per ``option`` (see :func:`stacktune.cache.resolve_cache`)."""
    if option is not False:
        install()
    token = _OPTION.set(option)
    try:
        yield
    finally:
        _OPTION.reset(token)


__all__ = ["StacktuneDSPyCache", "caching", "install", "request_key"]
