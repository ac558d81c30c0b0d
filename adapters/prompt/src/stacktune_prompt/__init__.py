"""stacktune-prompt: the raw-prompt adapter for stacktune (the reference adapter).

Write a :class:`Prompt` (instructions, a template, demos, a parser, a model) and hand it
to ``stacktune.create_study(...).optimize(prompt, dataset, metric)``: the plugin wraps it
in a :class:`PromptAdapter` that tunes its instructions, demos, sampling, model and parser.
"""

from typing import Any

from stacktune.cache import DEFAULT_CACHE_DIR, CachedResponse, FileCache, ResponseCache
from stacktune.pricing import FREE, Price
from stacktune_prompt._adapter import PromptAdapter
from stacktune_prompt._cache import deprecated_cache_key
from stacktune_prompt._models import ChatModel, Endpoint, EndpointError, RetryPolicy, TransientError, is_transient
from stacktune_prompt._prompt import OutputFormat, Parser, Prompt, Reply, SearchRanges, template_fields

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "cache_key":  # moved to the core, with the model, the parameters and the messages apart
        return deprecated_cache_key
    raise AttributeError(f"module 'stacktune_prompt' has no attribute {name!r}")


__all__ = [
    "DEFAULT_CACHE_DIR",
    "FREE",
    "CachedResponse",
    "ChatModel",
    "Endpoint",
    "EndpointError",
    "FileCache",
    "OutputFormat",
    "Parser",
    "Price",
    "Prompt",
    "PromptAdapter",
    "Reply",
    "ResponseCache",
    "RetryPolicy",
    "SearchRanges",
    "TransientError",
    "is_transient",
    "template_fields",
]
