"""Errors that name the culprit: which variable, which value, what was allowed."""

from __future__ import annotations


class StacktuneError(Exception):
    """Base class of every error stacktune raises on purpose."""


class InvalidVariable(StacktuneError):
    """A variable or space definition is wrong (Optuna's invariants, duplicate names, bad conditions).

    Not a ValueError on purpose: pydantic would wrap it, and the message is the point.
    """


class InvalidConfiguration(StacktuneError, ValueError):
    """A configuration does not fit its space.

    ``variable`` names the culprit (or the constraint), ``value`` is what was given and
    ``allowed`` says what would have been accepted.
    """

    def __init__(self, variable: str, value: object, allowed: str, *, reason: str = "invalid") -> None:
        self.variable = variable
        self.value = value
        self.allowed = allowed
        self.reason = reason
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{variable!r}: {reason}: got {shown}; allowed: {allowed}")


class NoAdapterFound(StacktuneError, TypeError):
    """No installed plugin knows how to optimize the given target."""


class RunStopped(StacktuneError):
    """Raised inside an evaluation to end the trial and the run early; what the trial did is kept."""


class BudgetExhausted(RunStopped):
    """Raised inside an evaluation when the study's budget is spent; the trial is kept."""


class BudgetError(StacktuneError):
    """A budget that cannot be enforced (a USD budget on an unpriced model, a token budget without token counts)."""


class TimeoutReached(RunStopped):
    """Raised inside an evaluation when ``optimize``'s timeout has passed; the trial is kept."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM) during ``optimize``: handled like Ctrl-C."""


class WiringError(StacktuneError, ValueError):
    """A shared example does not fit one alternative's program (a missing field, a wrong shape).

    Raised before anything is spent; ``alternative`` and ``field`` (when one is known) name the culprit.
    """

    def __init__(self, alternative: str, message: str, *, field: str | None = None) -> None:
        self.alternative = alternative
        self.field = field
        super().__init__(f"alternative {alternative!r}: {message}")


class ExportMismatch(StacktuneError, AssertionError):
    """An exported native object does not behave as the configuration it came from.

    ``knob`` names what did not carry over (a variable, a sampling parameter, the messages).
    """

    def __init__(self, knob: str, message: str) -> None:
        self.knob = knob
        super().__init__(f"export check failed on {knob!r}: {message}")


class MetricError(StacktuneError, ValueError):
    """The metric returned something that is not a score (None, NaN, a string...): that example fails."""
