"""One price table (genai-prices, offline) plus the user's overrides; unknown means unpriced."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from genai_prices import Usage as TableUsage
from genai_prices import calc_price

from stacktune.pricing import FREE, Price, call_cost, check_prices, price_for


def table(model: str, input_tokens: int, output_tokens: int) -> float:
    return float(calc_price(TableUsage(input_tokens=input_tokens, output_tokens=output_tokens), model).total_price)


def test_a_known_model_is_priced_from_the_table() -> None:
    price = price_for("gpt-4o-mini")
    assert price is not None and price.input_per_mtok > 0 and price.output_per_mtok > price.input_per_mtok
    assert price.cost(1_000_000, 0) == pytest.approx(table("gpt-4o-mini", 1_000_000, 0))
    assert call_cost("gpt-4o-mini", 1200, 300) == pytest.approx(table("gpt-4o-mini", 1200, 300))


@pytest.mark.parametrize("name", ["openai/gpt-4o-mini", "gpt-4o-mini"])
def test_litellm_style_names_and_a_provider_find_the_same_price(name: str) -> None:
    assert price_for(name) == price_for("gpt-4o-mini", provider="openai") == price_for("gpt-4o-mini")


@pytest.mark.parametrize("name", ["smollm2", "openai/smollm2", "ollama_chat/llama3", "my-lab/model-7b", "", None])
def test_an_unknown_model_is_unpriced_never_free(name: str | None) -> None:
    assert price_for(name) is None
    assert call_cost(name, 1000, 1000) is None


def test_a_provider_that_does_not_serve_the_model_gives_no_price() -> None:
    assert price_for("gpt-4o-mini", provider="anthropic") is None
    assert price_for("gpt-4o-mini", provider="no-such-provider") is None


def test_overrides_come_first_also_for_prefixed_names() -> None:
    prices = {"gpt-4o-mini": Price(1.0, 2.0), "smollm2": FREE}
    assert price_for("gpt-4o-mini", prices=prices) == Price(1.0, 2.0)
    assert call_cost("openai/gpt-4o-mini", 1_000_000, 500_000, prices=prices) == pytest.approx(2.0)
    assert call_cost("smollm2", 1000, 1000, prices=prices) == 0.0  # on your own machine: free because you said so
    assert price_for("smollm2", provider="openai", prices={"openai/smollm2": Price(3.0, 3.0)}) == Price(3.0, 3.0)


def test_price_cost_is_per_million_tokens() -> None:
    assert Price(2.0, 4.0).cost(500_000, 250_000) == pytest.approx(2.0)
    assert FREE.cost(10, 10) == 0.0


@pytest.mark.parametrize(
    ("values", "field"),
    [((-1.0, 1.0), "input_per_mtok"), ((1.0, float("nan")), "output_per_mtok"), (("1", 1.0), "input_per_mtok")],
)
def test_a_bad_price_names_the_field(values: tuple[Any, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"Price.{field} must be a finite number >= 0"):
        Price(*values)


def test_overrides_must_be_prices() -> None:
    assert check_prices({"m": FREE}) == {"m": FREE} and check_prices(None) == {}
    with pytest.raises(TypeError, match=r"prices\['quiz'\] must be a stacktune.pricing.Price.*got \(1.0, 2.0\)"):
        check_prices({"quiz": (1.0, 2.0)})


def test_pricing_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pricing tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert price_for("claude-3-5-haiku-latest") is not None
    assert call_cost("gpt-4o", 10, 10) is not None and call_cost("unknown-model", 10, 10) is None
