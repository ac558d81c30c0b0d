"""Exports you can trust: proving the native object is the configuration it came from.

``TrialResult.export(target, check=True, examples=[...])`` runs a few examples through both
the tuned Optimizable and the native object it exports, and compares what was sent to the
model (the messages and the parameters) and, when the temperature is 0, what came back. A
difference is an :class:`~stacktune.errors.ExportMismatch` naming the knob that did not
carry over. An adapter takes part by implementing :class:`SupportsExportCheck`: it runs one
example and reports its model calls, captured the way its framework allows (a callback, the
request it builds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from stacktune.errors import ExportMismatch

#: Words that say a variable shapes the messages rather than the call's parameters.
_TEXT_HINTS = ("instruction", "prompt", "demo", "system", "template", "signature", "adapter", "module")


@dataclass(frozen=True)
class ModelCall:
    """One call to a model: the messages (role, text) sent, the parameters sent, the text that came back."""

    messages: tuple[tuple[str, str], ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    output: str = ""

    @property
    def greedy(self) -> bool:
        """Temperature 0: the same request must give the same answer."""
        return self.parameters.get("temperature") in (0, 0.0)


@runtime_checkable
class SupportsExportCheck(Protocol):
    """An Optimizable whose exported object can be run and compared with it."""

    def model_calls(self, example: Any, native: object | None = None) -> list[ModelCall]:
        """The model calls one example makes through this Optimizable, or through ``native`` when given."""
        ...


def _knob_for(name: str, tuned_value: object, configuration: Mapping[str, Any]) -> str:
    """The configuration's variable behind a parameter (``llm==quiz/temperature`` for ``temperature``).

    Among the variables named after the parameter, the one set to the value the tuned call sent.
    """
    named = [v for v in configuration if v == name or v.endswith(("/" + name, "." + name, "_" + name))]
    same = [v for v in named if configuration[v] == tuned_value]
    return (same or named or [name])[0]


def _text_knob(configuration: Mapping[str, Any]) -> str:
    for variable in configuration:
        if any(hint in variable.lower() for hint in _TEXT_HINTS):
            return variable
    return "messages"


def compare_calls(
    tuned: Sequence[ModelCall], native: Sequence[ModelCall], configuration: Mapping[str, Any], where: str
) -> None:
    """Raise ExportMismatch at the first difference between the two runs of one example."""
    if len(tuned) != len(native):
        raise ExportMismatch(
            _text_knob(configuration),
            f"{where}: the tuned program made {len(tuned)} model call(s), the exported one {len(native)}",
        )
    for number, (mine, theirs) in enumerate(zip(tuned, native)):
        call = f"{where}, call #{number}"
        for name in sorted(set(mine.parameters) | set(theirs.parameters)):
            if mine.parameters.get(name) != theirs.parameters.get(name):
                raise ExportMismatch(
                    _knob_for(name, mine.parameters.get(name), configuration),
                    f"{call}: parameter {name!r} was {mine.parameters.get(name)!r} when tuned, "
                    f"{theirs.parameters.get(name)!r} in the export",
                )
        if mine.messages != theirs.messages:
            index = next(
                (i for i, (a, b) in enumerate(zip(mine.messages, theirs.messages)) if a != b),
                min(len(mine.messages), len(theirs.messages)),
            )
            shown = [m[index] if index < len(m) else None for m in (mine.messages, theirs.messages)]
            raise ExportMismatch(
                _text_knob(configuration),
                f"{call}: message #{index} differs: tuned {_short(shown[0])}, exported {_short(shown[1])}",
            )
        if mine.greedy and mine.output != theirs.output:
            raise ExportMismatch(
                "output",
                f"{call}: at temperature 0 the same request answered {_short(mine.output)} when tuned and "
                f"{_short(theirs.output)} in the export",
            )


def check_export(
    tuned: object, native: object, examples: Sequence[Any], configuration: Mapping[str, Any] | None = None
) -> None:
    """Run ``examples`` through ``tuned`` and ``native`` and raise ExportMismatch at the first difference."""
    if not isinstance(tuned, SupportsExportCheck):
        raise TypeError(
            f"{type(tuned).__name__} cannot check its export: it does not implement model_calls(example, native)"
        )
    if native is None:
        raise ExportMismatch("to_native", f"{type(tuned).__name__}.to_native() returned None")
    if not examples:
        raise ValueError("check=True needs a few examples to run through both (examples=[...])")
    for index, example in enumerate(examples):
        compare_calls(
            tuned.model_calls(example),
            tuned.model_calls(example, native),
            configuration or {},
            f"example #{index}",
        )


def _short(value: object, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["ModelCall", "SupportsExportCheck", "check_export", "compare_calls"]
