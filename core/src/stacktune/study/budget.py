"""Budgets: how much a study may spend before it stops starting trials."""

from __future__ import annotations

import math
from dataclasses import dataclass

from stacktune.errors import BudgetError
from stacktune.usage import Usage

#: A token budget is judged unenforceable only after this many calls without any token count.
_CALLS_BEFORE_JUDGING_TOKENS = 3


@dataclass(frozen=True)
class Spent:
    """What a study paid for: LLM calls, tokens and USD, cached answers left out (they cost nothing again)."""

    calls: int = 0
    tokens: int = 0
    usd: float = 0.0

    @classmethod
    def of(cls, usage: Usage) -> Spent:
        """What a :class:`~stacktune.Usage` paid for (its ``spent_*`` figures)."""
        return cls(calls=usage.spent_calls, tokens=usage.spent_tokens, usd=usage.spent_cost_usd)

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.calls + other.calls, self.tokens + other.tokens, self.usd + other.usd)


@dataclass(frozen=True)
class Budget:
    """Stop starting trials once any limit is spent, counted over the whole study.

    What counts is everything the study spent, from every ``optimize`` call of every process
    working on it (kept in the study's shared state, :mod:`stacktune.shared`): workers on
    several machines share one budget, and a resumed study goes on from what it spent (give a
    larger budget to spend more). A running trial is stopped too, within about one call per
    concurrent slot of all workers. Cached answers are not counted: they cost nothing again.
    """

    usd: float | None = None
    calls: int | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        for name, kinds, what in (
            ("usd", (int, float), "a number of USD"),
            ("calls", (int,), "a whole number"),
            ("tokens", (int,), "a whole number"),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value < 0:
                raise ValueError(f"Budget.{name} must be {what} >= 0 (or None for no limit), got {value!r}")

    def check_enforceable(self, spent: Usage) -> None:
        """Raise :class:`~stacktune.BudgetError` when what was spent shows this budget could never trip.

        A USD limit needs priced calls; a token limit needs answers that report their tokens.
        """
        if self.usd is not None and spent.unpriced_calls:
            models = ", ".join(map(repr, spent.unpriced_models)) or "a model"
            raise BudgetError(
                f"Budget(usd={self.usd}) cannot hold: {spent.unpriced_calls} call(s) went to {models}, whose price "
                f"is unknown. Give the adapter its price (prices={{model name: stacktune.Price(input_per_mtok, "
                f"output_per_mtok)}}, or stacktune.FREE for a model on your machine), or budget calls or tokens"
            )
        answered = spent.answered_calls  # failed attempts report no tokens, and say nothing of the answers
        if self.tokens is not None and answered >= _CALLS_BEFORE_JUDGING_TOKENS and not spent.total_tokens:
            raise BudgetError(
                f"Budget(tokens={self.tokens}) cannot hold: {answered} answers reported no token counts; "
                f"budget calls instead (Budget(calls=...))"
            )

    def exhausted_by(self, spent: Usage | Spent) -> str | None:
        """Which limit ``spent`` reached, or None."""
        if isinstance(spent, Usage):
            spent = Spent.of(spent)
        if self.usd is not None and spent.usd >= self.usd:
            return f"USD budget {self.usd} spent ({spent.usd:.4f})"
        if self.calls is not None and spent.calls >= self.calls:
            return f"call budget {self.calls} spent ({spent.calls})"
        if self.tokens is not None and spent.tokens >= self.tokens:
            return f"token budget {self.tokens} spent ({spent.tokens})"
        return None


__all__ = ["Budget", "Spent"]
