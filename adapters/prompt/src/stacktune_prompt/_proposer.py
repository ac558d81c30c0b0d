"""A proposer LM (``stacktune.ProposerLM``) on any model a Prompt can call.

``stacktune.Proposer`` needs ``lm(prompt) -> text`` whose calls report their cost; a one-turn
:class:`~stacktune_prompt.Prompt` already does that (response cache, retries, prices,
``record_usage``), so this wraps one around an OpenAI-compatible :class:`Endpoint` (the local
llama.cpp server, any hosted API) or an in-process client.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from stacktune.cache import ResponseCache
from stacktune.pricing import Price
from stacktune_prompt._models import ChatModel, RetryPolicy, model_call_cost
from stacktune_prompt._prompt import Prompt

#: The system text the proposer model gets.
PROPOSER_SYSTEM = "You write clear, effective instructions for the steps of LLM programs."


class ChatProposerLM:
    """``lm(prompt) -> text`` on a chat model, each call's cost recorded (what a study's budget counts).

    ``temperature`` above 0 lets the model write different texts for similar requests;
    ``cache`` (off by default) keeps answers on disk so a repeated request costs nothing.
    """

    def __init__(
        self,
        model: ChatModel,
        *,
        temperature: float = 0.7,
        max_tokens: int = 256,
        seed: int | None = 0,
        system: str = PROPOSER_SYSTEM,
        prices: Mapping[str, Price] | None = None,
        cache: ResponseCache | str | Path | bool | None = False,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.prompt = Prompt(
            instructions=system,
            template="{request}",
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            prices=dict(prices or {}),
            cache=cache,
            retry=retry if retry is not None else RetryPolicy(),
        )

    @property
    def name(self) -> str:
        """The model's name, stored with the proposals."""
        return str(self.prompt.model)

    def __repr__(self) -> str:
        return f"ChatProposerLM({self.name!r}, temperature={self.prompt.temperature})"

    def call_cost(self, input_tokens: int, output_tokens: int) -> float | None:
        """USD of one call of so many tokens (what ``study.estimate`` prices proposals at); None when unknown."""
        return model_call_cost(self.prompt.client, input_tokens, output_tokens, self.prompt.prices)

    def __call__(self, prompt: str) -> str:
        """The model's answer to one proposal request."""
        return self.prompt.reply({"request": prompt}).text


__all__ = ["PROPOSER_SYSTEM", "ChatProposerLM"]
