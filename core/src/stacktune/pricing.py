"""What an LLM call costs: one maintained price table plus the user's overrides.

The table is pydantic's ``genai-prices`` package (many providers, kept up to date with
each release). It works offline: its data ships inside the package and nothing is
downloaded unless its ``UpdatePrices`` is started, which stacktune never does. The
user's overrides come first, by model name (``{"my-model": Price(0.5, 1.5)}``; ``FREE``
for a model on your own machine).

A model with no known price is *unpriced*: :func:`call_cost` returns None and adapters
count the call in ``Usage.unpriced_calls``, never as free, so a cost objective cannot
favour a model just because nobody knows its price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, TypeAlias


@dataclass(frozen=True)
class Price:
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"Price.{field.name} must be a finite number >= 0 (USD per million tokens), got {value!r}"
                )

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """USD for one call's tokens."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


#: The price of a model on your own machine: say so, and its calls cost nothing.
FREE = Price(0.0, 0.0)

#: The user's overrides: ``{model name: Price}``.
Prices: TypeAlias = Mapping[str, Price]


def check_prices(prices: Mapping[str, object] | None) -> dict[str, Price]:
    """The user's overrides as a plain dict, each value checked to be a :class:`Price`."""
    checked: dict[str, Price] = {}
    for model, price in (prices or {}).items():
        if not isinstance(price, Price):
            raise TypeError(
                f"prices[{model!r}] must be a stacktune.pricing.Price(input_per_mtok, output_per_mtok), got {price!r}"
            )
        checked[str(model)] = price
    return checked


def price_for(model: str | None, *, provider: str | None = None, prices: Prices | None = None) -> Price | None:
    """The price of a model's calls, or None when it is not known.

    The overrides come first: the name as given, then without its provider prefixes
    (``openai/gpt-4o-mini`` finds an override for ``gpt-4o-mini``). Then the table, by
    ``provider`` when known, else by a LiteLLM-style prefix (``openai/…``), else by the
    model name alone. Tiered prices give their base tier.
    """
    own = _override(model, provider, prices)
    if own is not None or not model:
        return own
    found = _table(model, provider, 0, 0)
    if found is None:
        return None
    table_price = found.model_price
    return Price(
        _per_mtok(getattr(table_price, "input_mtok", None)), _per_mtok(getattr(table_price, "output_mtok", None))
    )


def call_cost(
    model: str | None,
    input_tokens: int,
    output_tokens: int,
    *,
    provider: str | None = None,
    prices: Prices | None = None,
) -> float | None:
    """USD for one call, or None when the model is unpriced (count it in ``unpriced_calls``).

    Overrides and lookup as in :func:`price_for`; the table prices the real token counts,
    so tiers by prompt length apply.
    """
    own = _override(model, provider, prices)
    if own is not None:
        return own.cost(input_tokens, output_tokens)
    if not model:
        return None
    found = _table(model, provider, input_tokens, output_tokens)
    return None if found is None else float(found.total_price)


def _names(model: str) -> list[str]:
    """``a/b/c``, ``b/c``, ``c``: the name, then without its prefixes."""
    parts = model.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def _override(model: str | None, provider: str | None, prices: Prices | None) -> Price | None:
    if not prices or not model:
        return None
    candidates = ([f"{provider}/{model}"] if provider else []) + _names(model)
    return next((prices[name] for name in candidates if name in prices), None)


def _table(model: str, provider: str | None, input_tokens: int, output_tokens: int) -> Any:
    """genai-prices' calculation, or None when it knows no such model (or provider)."""
    from genai_prices import Usage, calc_price  # imported on first use: its table is large

    ref = model
    if provider is None and "/" in model:
        provider, ref = model.split("/", 1)  # LiteLLM style: an unknown prefix means no known price
    try:
        return calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens), ref, provider_id=provider)
    except LookupError:
        return None


def _per_mtok(value: object) -> float:
    base = getattr(value, "base", value)  # TieredPrices: the price below the first tier
    return float(base) if isinstance(base, (Decimal, int, float)) else 0.0


__all__ = ["FREE", "Price", "Prices", "call_cost", "check_prices", "price_for"]
