"""stacktune-prompt: the raw-prompt adapter for stacktune (the reference adapter).

Write a :class:`Prompt` (instructions, a template, demos, a parser, a model) and hand it
to ``stacktune.create_study(...).optimize(prompt, dataset, metric)``: the plugin wraps it
in a :class:`PromptAdapter` that tunes its instructions, demos, sampling, model and parser.
"""

from typing import TYPE_CHECKING

from stacktune.lazy import lazy_exports

if TYPE_CHECKING:
    from stacktune.cache import DEFAULT_CACHE_DIR, CachedResponse, FileCache, ResponseCache
    from stacktune.pricing import FREE, Price
    from stacktune_prompt._adapter import PromptAdapter
    from stacktune_prompt._models import ChatModel, Endpoint, EndpointError, RetryPolicy, TransientError, is_transient
    from stacktune_prompt._prompt import OutputFormat, Parser, Prompt, Reply, SearchRanges, template_fields
    from stacktune_prompt._proposer import ChatProposerLM

# Imported on first use: loading the plugin (stacktune does, for every command) must not import the framework.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FREE": "stacktune.pricing",
        "Price": "stacktune.pricing",
        "PromptAdapter": "stacktune_prompt._adapter",
        "DEFAULT_CACHE_DIR": "stacktune.cache",
        "CachedResponse": "stacktune.cache",
        "FileCache": "stacktune.cache",
        "ResponseCache": "stacktune.cache",
        # moved to the core (stacktune.cache.cache_key), with the model, the parameters and the messages apart
        "cache_key": "stacktune_prompt._cache",
        "ChatModel": "stacktune_prompt._models",
        "Endpoint": "stacktune_prompt._models",
        "EndpointError": "stacktune_prompt._models",
        "RetryPolicy": "stacktune_prompt._models",
        "TransientError": "stacktune_prompt._models",
        "is_transient": "stacktune_prompt._models",
        "OutputFormat": "stacktune_prompt._prompt",
        "Parser": "stacktune_prompt._prompt",
        "Prompt": "stacktune_prompt._prompt",
        "Reply": "stacktune_prompt._prompt",
        "SearchRanges": "stacktune_prompt._prompt",
        "template_fields": "stacktune_prompt._prompt",
        "ChatProposerLM": "stacktune_prompt._proposer",
    },
)

__version__ = "0.1.0"


__all__ = [
    "DEFAULT_CACHE_DIR",
    "FREE",
    "CachedResponse",
    "ChatProposerLM",
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
