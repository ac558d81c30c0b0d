"""The prompt adapter's view of the response cache, which lives in the core (:mod:`stacktune.cache`).

A request is keyed by the model's identity (endpoint URL and model name, or the in-process
client), every sampling parameter of the request and its messages; the API key never takes
part. Inside a study's trials the study's cache is used (shared by every worker); outside one,
``.stacktune-cache/responses.sqlite3`` in the working directory.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from stacktune.cache import cache_key as core_cache_key


def request_key(model_identity: str, request: Mapping[str, Any]) -> str:
    """The key of one ``create_chat_completion`` request: the model, its parameters, its messages."""
    params = {name: value for name, value in request.items() if name != "messages"}
    return core_cache_key(model_identity, params, request.get("messages"))


def deprecated_cache_key(model_identity: str, request: Mapping[str, Any]) -> str:
    """``stacktune_prompt.cache_key`` before the cache moved to the core (deprecated)."""
    warnings.warn(
        "stacktune_prompt.cache_key is deprecated: use stacktune.cache.cache_key(model, params, messages)",
        DeprecationWarning,
        stacklevel=2,
    )
    return request_key(model_identity, request)


cache_key = deprecated_cache_key  # the name ``stacktune_prompt.cache_key`` resolves to

__all__ = ["cache_key", "deprecated_cache_key", "request_key"]
