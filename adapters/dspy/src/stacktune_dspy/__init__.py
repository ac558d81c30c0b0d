"""stacktune-dspy: tune every knob of a DSPy program without touching it.

``stacktune.optimizable(program)`` (or :class:`DSPyAdapter` with options) finds
the instructions, demos, LM call settings, module types, LM and adapter of any
``dspy.Module``; :func:`save` / :func:`load` keep a tuned program, including what
DSPy's own ``save()`` does not.
"""

from stacktune_dspy._adapter import DSPyAdapter, context
from stacktune_dspy._candidates import Candidates, candidates_from_programs
from stacktune_dspy._discovery import PredictorInfo, find_predictors
from stacktune_dspy._options import ADAPTER_KEYS, DEFAULT_REASONING_HINTS, InstructionProposer
from stacktune_dspy._persist import load, save, sidecar_path
from stacktune_dspy._ratelimit import RateLimitCallback
from stacktune_dspy._specs import LMSpec
from stacktune_dspy._tune import Tune
from stacktune_dspy._usage import usage_from_history

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
