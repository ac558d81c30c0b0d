"""stacktune-langchain: tune any LangChain Runnable with stacktune.

``LangChainAdapter(chain)`` exposes the chain's declared knobs (``config_specs``)
and the ones it does not declare (chat models' sampling parameters, prompt texts,
alternative models offered by the user) as one stacktune Space; applying a
configuration gives a new runnable, the original stays as it was.
"""

from typing import TYPE_CHECKING

from stacktune.lazy import lazy_exports

if TYPE_CHECKING:
    from stacktune.pricing import Prices
    from stacktune_langchain._adapter import LangChainAdapter
    from stacktune_langchain._declared import RUNTIME_KEYS, KnobCandidates
    from stacktune_langchain._knobs import DEFAULT_SAMPLING_PARAMS, ModelCandidates, PromptCandidates
    from stacktune_langchain._ratelimit import SharedRateLimiter
    from stacktune_langchain._tune import tune
    from stacktune_langchain._usage import UsageCallbackHandler

# Imported on first use: loading the plugin (stacktune does, for every command) must not import the framework.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Prices": "stacktune.pricing",
        "LangChainAdapter": "stacktune_langchain._adapter",
        "RUNTIME_KEYS": "stacktune_langchain._declared",
        "KnobCandidates": "stacktune_langchain._declared",
        "DEFAULT_SAMPLING_PARAMS": "stacktune_langchain._knobs",
        "ModelCandidates": "stacktune_langchain._knobs",
        "PromptCandidates": "stacktune_langchain._knobs",
        "SharedRateLimiter": "stacktune_langchain._ratelimit",
        "tune": "stacktune_langchain._tune",
        "UsageCallbackHandler": "stacktune_langchain._usage",
    },
)

__all__ = [
    "DEFAULT_SAMPLING_PARAMS",
    "RUNTIME_KEYS",
    "KnobCandidates",
    "LangChainAdapter",
    "ModelCandidates",
    "Prices",
    "PromptCandidates",
    "SharedRateLimiter",
    "UsageCallbackHandler",
    "tune",
]
