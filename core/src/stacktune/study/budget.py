"""Budgets: how much a study may spend before it stops starting trials."""

from __future__ import annotations

from dataclasses import dataclass

from stacktune.usage import Usage


@dataclass(frozen=True)
class Budget:
    """Stop starting trials once any limit is spent (counted over one ``optimize`` call).

    A running trial is stopped too, within about one example per concurrent slot.
    Cached answers are not counted: they cost nothing again.
    """

    usd: float | None = None
    calls: int | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("usd", "calls", "tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"Budget.{name} must be a non-negative number, got {value!r}")

    def exhausted_by(self, spent: Usage) -> str | None:
        """Which limit ``spent`` reached, or None."""
        if self.usd is not None and spent.spent_cost_usd >= self.usd:
            return f"USD budget {self.usd} spent ({spent.spent_cost_usd:.4f})"
        if self.calls is not None and spent.spent_calls >= self.calls:
            return f"call budget {self.calls} spent ({spent.spent_calls})"
        if self.tokens is not None and spent.spent_tokens >= self.tokens:
            return f"token budget {self.tokens} spent ({spent.spent_tokens})"
        return None


__all__ = ["Budget"]
