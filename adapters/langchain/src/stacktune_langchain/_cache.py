"""LangChain's ``BaseCache`` on stacktune's response cache (:mod:`stacktune.cache`).

The adapter installs a :class:`StacktuneLLMCache` on every chat model of a configured chain
whose ``cache`` is unset (a model with ``cache=False`` or a cache of its own is left alone).
On each call it uses the cache the adapter was given, else the study's inside a study's
trial (so every worker of the study shares the answers); with neither, it hands over to
LangChain's global cache (``set_llm_cache``), as an unset ``cache`` would.

The key is not LangChain's ``llm_string`` as it is: a serializable model's string is its
serialized constructor (headers included, and the values it was built with) followed by the
call's arguments. Here the serialized part is read as JSON, credentials and headers are
dropped (:func:`stacktune.cache.answer_params`), and the model's current invocation
parameters (temperature, top_p, max_tokens, stop, seed, ... as the copy being called has
them) are added, so a copy with another temperature never gets the original's answer.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core._api import LangChainBetaWarning
from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache
from langchain_core.load import Serializable, dumps, loads
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from stacktune.cache import CachedResponse, CacheOption, ResponseCache, answer_params, cache_key, resolve_cache

#: What a stored answer may hold: generations and AI messages, nothing that runs code or makes clients.
_ANSWER_CLASSES: list[type[Serializable]] = [
    ChatGeneration,
    ChatGenerationChunk,
    Generation,
    GenerationChunk,
    AIMessage,
    AIMessageChunk,
]

#: Set in a served answer's ``response_metadata``: the usage handler counts it as a cache hit.
CACHE_HIT = "stacktune_cache_hit"


def _split(llm_string: str) -> tuple[dict[str, Any] | None, str]:
    """A serializable model's ``llm_string``: (its serialized form, the call's arguments); else (None, all)."""
    if not llm_string.startswith("{"):
        return None, llm_string
    try:
        serialized, end = json.JSONDecoder().raw_decode(llm_string)
    except ValueError:
        return None, llm_string
    rest = llm_string[end:]
    return (serialized, rest.removeprefix("---")) if isinstance(serialized, dict) else (None, llm_string)


def request_key(llm_string: str, prompt: str, current: Mapping[str, Any] | None = None) -> str:
    """The stacktune key of one LangChain call: the model, every parameter that changes the answer, the messages.

    ``current`` is what the called copy has now (its invocation parameters and plain fields:
    temperature, top_p, max_tokens, stop, seed, ...); :class:`StacktuneLLMCache` passes them.
    """
    serialized, call = _split(llm_string)
    params: dict[str, Any] = {"call": call, **{k: answer_params(v) for k, v in (current or {}).items()}}
    if serialized is None:  # a model that is not serializable: its string is its invocation parameters
        return cache_key("langchain", params, prompt)
    path = serialized.get("id")
    identity = "langchain:" + ".".join(map(str, path)) if isinstance(path, list) and path else "langchain"
    kwargs = serialized.get("kwargs")
    if isinstance(kwargs, Mapping):
        params["model"] = {k: v for k, v in answer_params(kwargs).items() if not _is_secret(v)}
    return cache_key(identity, params, prompt)


def _plain(value: object) -> bool:
    """JSON data with a stable form (objects such as clients and callbacks are left out of the key)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _is_secret(value: object) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "secret"


def _text(generations: Sequence[Generation]) -> str:
    return "\n".join(g.text for g in generations)


def _tokens(generations: Sequence[Generation]) -> tuple[int, int]:
    inputs = outputs = 0
    for generation in generations:
        metadata = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
        inputs += int(metadata.get("input_tokens") or 0)
        outputs += int(metadata.get("output_tokens") or 0)
    return inputs, outputs


def _marked(generations: list[Any]) -> list[Any]:
    """The stored answer, each message marked as served from the cache (what the usage handler reads)."""
    for generation in generations:
        message = getattr(generation, "message", None)
        if message is not None:
            message.response_metadata = {**(message.response_metadata or {}), CACHE_HIT: True}
        else:
            generation.generation_info = {**(generation.generation_info or {}), CACHE_HIT: True}
    return generations


class StacktuneLLMCache(BaseCache):
    """A ``BaseCache`` whose answers live in a stacktune :class:`~stacktune.cache.ResponseCache`.

    ``cache`` is the adapter's option: a cache (always that one), ``True``/``None`` (the study's
    inside a trial) or ``False``. Without a cache it defers to LangChain's global one. Bound to
    one chat model (:meth:`bind`), it adds the model's current parameters to every key.
    """

    def __init__(self, cache: CacheOption = None, model: Any = None) -> None:
        self.option = cache
        self.model = model

    def bind(self, model: Any) -> StacktuneLLMCache:
        """This cache for one chat model: its invocation parameters join every key."""
        return StacktuneLLMCache(self.option, model)

    def _store(self) -> ResponseCache | None:
        return resolve_cache(self.option)

    def _current(self) -> dict[str, Any]:
        """The bound model's parameters now: its invocation parameters and its plain fields.

        The fields matter: a model that declares no ``_identifying_params`` (many custom and fake
        models) leaves its temperature out of LangChain's own ``llm_string``.
        """
        model = self.model
        if model is None:
            return {}
        try:
            invocation = {str(k): v for k, v in model._get_invocation_params().items()}
        except Exception:  # noqa: BLE001 - a model without them: its fields and llm_string are all there is
            invocation = {}
        fields = {
            name: getattr(model, name, None)
            for name, info in type(model).model_fields.items()
            if not info.exclude and _plain(getattr(model, name, None))
        }
        return {"invocation": invocation, "fields": fields}

    def key(self, prompt: str, llm_string: str) -> str:
        """The stacktune key of a call of the bound model."""
        return request_key(llm_string, prompt, self._current())

    def lookup(self, prompt: str, llm_string: str) -> Sequence[Generation] | None:
        """The stored answer (marked as a cache hit), or None."""
        store = self._store()
        if store is None:
            fallback = get_llm_cache()
            return fallback.lookup(prompt, llm_string) if fallback is not None else None
        entry = store.get(self.key(prompt, llm_string))
        if entry is None or entry.payload is None:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LangChainBetaWarning)  # loads is "beta" since LangChain 0.1
                generations = loads(entry.payload, allowed_objects=_ANSWER_CLASSES)
        except Exception:  # noqa: BLE001 - an entry this LangChain cannot read is a miss
            return None
        return _marked(list(generations)) if isinstance(generations, list) else None

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        """Store a fresh answer with its token counts."""
        store = self._store()
        if store is None:
            fallback = get_llm_cache()
            if fallback is not None:
                fallback.update(prompt, llm_string, return_val)
            return
        generations = list(return_val)
        inputs, outputs = _tokens(generations)
        store.put(
            self.key(prompt, llm_string),
            CachedResponse(_text(generations), inputs, outputs, 0.0, payload=dumps(generations)),
        )

    def clear(self, **kwargs: Any) -> None:
        """Forget every answer of the cache in use."""
        store = self._store()
        if store is not None:
            store.clear()


__all__ = ["CACHE_HIT", "StacktuneLLMCache", "request_key"]
