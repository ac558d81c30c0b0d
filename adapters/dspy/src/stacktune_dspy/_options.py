"""What the user may tell the adapter about the knobs it should offer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import dspy

from stacktune import SAMPLING_KNOBS
from stacktune.pricing import Price

#: DSPy's own reasoning field description, and one plainer hint to try against it.
DEFAULT_REASONING_HINTS: tuple[str, ...] = ("${reasoning}", "Think step by step in order to produce the answer.")

#: DSPy's built-in adapters by choice key.
_ADAPTERS: dict[str, type[dspy.Adapter]] = {"chat": dspy.ChatAdapter, "json": dspy.JSONAdapter, "xml": dspy.XMLAdapter}
ADAPTER_KEYS: tuple[str, ...] = tuple(_ADAPTERS)

#: The LM call settings that become variables (in ``Predict.config``), searched as ``stacktune.SAMPLING_KNOBS`` says.
SETTINGS: tuple[str, ...] = ("temperature", "max_tokens", "top_p")
#: Each setting's default range: the catalogue's (widened to hold a predictor's value; a range you give is kept).
DEFAULT_RANGES: dict[str, tuple[float, float] | None] = {name: SAMPLING_KNOBS[name].range for name in SETTINGS}

#: ``proposer(path, predictor) -> candidate instructions`` (e.g. wrapping DSPy's GroundedProposer).
InstructionProposer = Callable[[str, dspy.Predict], Sequence[str]]


@dataclass(frozen=True)
class TuningOptions:
    """Which knobs to expose and their ranges; see :class:`stacktune_dspy.DSPyAdapter`."""

    lm: Any = None
    lms: Sequence[Any] | Mapping[str, Any] = ()
    lm_scope: Literal["program", "predictor"] = "program"
    adapters: Sequence[str] = ADAPTER_KEYS
    instructions: Mapping[str, Sequence[str]] = field(default_factory=dict)
    instruction_proposer: InstructionProposer | None = None
    trainset: Sequence[Any] = ()
    demo_pool: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    demo_sets: Mapping[str, Mapping[str, Sequence[Any]]] = field(default_factory=dict)
    max_demos: int = 4
    demo_seeds: int = 4
    temperature: tuple[float, float] | None = DEFAULT_RANGES["temperature"]
    max_tokens: tuple[float, float] | None = DEFAULT_RANGES["max_tokens"]
    top_p: tuple[float, float] | None = DEFAULT_RANGES["top_p"]
    swap_modules: bool = True
    reasoning_hints: Sequence[str] = DEFAULT_REASONING_HINTS
    input_keys: Sequence[str] | None = None
    prices: Mapping[str, Price] = field(default_factory=dict)
    #: Demos bootstrapped from the program's own traces (``with_bootstrapped_demos``): they join each path's pool.
    bootstrapped: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    #: How many demos a predictor with bootstrapped ones may show at once (with ``max_demos``, the larger wins).
    bootstrapped_max_demos: int = 0

    def __post_init__(self) -> None:
        if self.lm_scope not in ("program", "predictor"):
            raise ValueError(f"lm_scope must be 'program' or 'predictor', got {self.lm_scope!r}")
        unknown = [a for a in self.adapters if a not in ADAPTER_KEYS]
        if unknown:
            raise ValueError(f"unknown DSPy adapter(s) {unknown}; allowed: {list(ADAPTER_KEYS)}")
        if self.max_demos < 1:
            raise ValueError(f"max_demos must be >= 1, got {self.max_demos}")
        if self.demo_seeds < 1:
            raise ValueError(f"demo_seeds must be >= 1, got {self.demo_seeds}")
        for name in SETTINGS:
            bounds = getattr(self, name)
            if bounds is not None and (len(bounds) != 2 or bounds[0] > bounds[1]):
                raise ValueError(f"{name} must be a (low, high) pair with low <= high, or None; got {bounds!r}")
        if isinstance(self.instructions, (str, bytes)) or not isinstance(self.instructions, Mapping):
            raise TypeError("instructions must map a predictor path (or '*') to a list of candidate texts")

    def check_paths(self, known: Sequence[str]) -> None:
        """Every path the user named must be a predictor of the program."""
        for option in ("instructions", "demo_pool", "demo_sets", "bootstrapped"):
            for path in getattr(self, option):
                if path != "*" and path not in known:
                    raise ValueError(
                        f"{option} names predictor {path!r}, which the program does not have; "
                        f"its predictors are {list(known)} (or use '*' for all)"
                    )


def make_adapter(key: str) -> dspy.Adapter:
    """A fresh DSPy adapter for a choice key."""
    try:
        return _ADAPTERS[key]()
    except KeyError:
        raise ValueError(f"unknown DSPy adapter {key!r}; allowed: {list(_ADAPTERS)}") from None


def adapter_key(adapter: object) -> str:
    """The choice key of the adapter DSPy would use now ("current" for a custom one)."""
    if adapter is None:
        return "chat"
    return next((key for key, cls in _ADAPTERS.items() if type(adapter) is cls), "current")


__all__ = [
    "ADAPTER_KEYS",
    "DEFAULT_RANGES",
    "DEFAULT_REASONING_HINTS",
    "SETTINGS",
    "InstructionProposer",
    "TuningOptions",
    "adapter_key",
    "make_adapter",
]
