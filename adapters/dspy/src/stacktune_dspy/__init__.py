"""stacktune-dspy: tune every knob of a DSPy program without touching it.

``stacktune.optimizable(program)`` (or :class:`DSPyAdapter` with options) finds
the instructions, demos, LM call settings, module types, LM and adapter of any
``dspy.Module``; :func:`save` / :func:`load` keep a tuned program, including what
DSPy's own ``save()`` does not.
"""

from typing import TYPE_CHECKING

from stacktune.lazy import lazy_exports

if TYPE_CHECKING:
    from stacktune_dspy._adapter import DSPyAdapter, context
    from stacktune_dspy._candidates import Candidates, candidates_from_programs
    from stacktune_dspy._discovery import PredictorInfo, find_predictors
    from stacktune_dspy._options import ADAPTER_KEYS, DEFAULT_REASONING_HINTS, InstructionProposer
    from stacktune_dspy._persist import load, save, sidecar_path
    from stacktune_dspy._ratelimit import RateLimitCallback
    from stacktune_dspy._specs import LMSpec
    from stacktune_dspy._tune import Tune
    from stacktune_dspy._usage import usage_from_history

# Imported on first use: loading the plugin (stacktune does, for every command) must not import the framework.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DSPyAdapter": "stacktune_dspy._adapter",
        "context": "stacktune_dspy._adapter",
        "Candidates": "stacktune_dspy._candidates",
        "candidates_from_programs": "stacktune_dspy._candidates",
        "PredictorInfo": "stacktune_dspy._discovery",
        "find_predictors": "stacktune_dspy._discovery",
        "ADAPTER_KEYS": "stacktune_dspy._options",
        "DEFAULT_REASONING_HINTS": "stacktune_dspy._options",
        "InstructionProposer": "stacktune_dspy._options",
        "load": "stacktune_dspy._persist",
        "save": "stacktune_dspy._persist",
        "sidecar_path": "stacktune_dspy._persist",
        "RateLimitCallback": "stacktune_dspy._ratelimit",
        "LMSpec": "stacktune_dspy._specs",
        "Tune": "stacktune_dspy._tune",
        "usage_from_history": "stacktune_dspy._usage",
    },
)

__version__ = "0.1.0"

__all__ = [
    "ADAPTER_KEYS",
    "DEFAULT_REASONING_HINTS",
    "Candidates",
    "DSPyAdapter",
    "InstructionProposer",
    "LMSpec",
    "PredictorInfo",
    "RateLimitCallback",
    "Tune",
    "candidates_from_programs",
    "context",
    "find_predictors",
    "load",
    "save",
    "sidecar_path",
    "usage_from_history",
]
