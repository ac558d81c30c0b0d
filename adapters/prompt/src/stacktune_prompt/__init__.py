"""stacktune-prompt: the raw-prompt adapter for stacktune (the reference adapter).

Write a :class:`Prompt` (instructions, a template, demos, a parser, a model) and hand it
to ``stacktune.create_study(...).optimize(prompt, dataset, metric)``: the plugin wraps it
in a :class:`PromptAdapter` that tunes its instructions, demos, sampling, model and parser.
"""

from stacktune.pricing import FREE, Price
from stacktune_prompt._adapter import PromptAdapter
from stacktune_prompt._cache import DEFAULT_CACHE_DIR, CachedResponse, ResponseCache, cache_key
from stacktune_prompt._models import ChatModel, Endpoint, EndpointError, RetryPolicy, TransientError, is_transient
from stacktune_prompt._prompt import OutputFormat, Parser, Prompt, Reply, SearchRanges, template_fields
from stacktune_prompt._proposer import ChatProposerLM

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CACHE_DIR",
    "FREE",
    "CachedResponse",
    "ChatProposerLM",
    "ChatModel",
    "Endpoint",
    "EndpointError",
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
    "cache_key",
    "is_transient",
    "template_fields",
]
