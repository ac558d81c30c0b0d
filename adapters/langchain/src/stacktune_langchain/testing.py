"""An offline chat model whose answers depend on its prompt and sampling parameters.

``QuizChatModel`` answers "What is A + B?" correctly only when its temperature is at
most 0.5 and the prompt asks it to be careful, and its answer is cut to ``max_tokens``
words; it reports usage like a real model. So a configuration visibly matters, with no
network and no randomness: for unit tests, docs and the conformance suite.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

_QUESTION = re.compile(r"(-?\d+)\s*\+\s*(-?\d+)")


class QuizChatModel(BaseChatModel):
    """A deterministic fake: right answers need temperature <= 0.5 and the word "careful" in the prompt."""

    model_name: str = "quiz"
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int | None = None
    fail_on: str | None = None
    """Raise ValueError when the prompt contains this text (to test failures)."""

    @property
    def _llm_type(self) -> str:
        return "stacktune-quiz"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What a real chat model reports in its invocation parameters (callbacks see them)."""
        return {
            "model_name": self.model_name,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }

    def answer(self, prompt: str, temperature: float, max_tokens: int | None) -> str:
        """What this model says to ``prompt`` with these parameters."""
        if self.fail_on is not None and self.fail_on in prompt:
            raise ValueError(f"QuizChatModel was told to fail on {self.fail_on!r}")
        match = _QUESTION.search(prompt)
        if match is None:
            words = ["I", "only", "do", "sums."]
        else:
            total = int(match.group(1)) + int(match.group(2))
            right = temperature <= 0.5 and "careful" in prompt.lower()
            words = ["The", "answer", "is", f"{total if right else total + 1}."]
        return " ".join(words[:max_tokens] if max_tokens is not None else words)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Sequence[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = "\n".join(m.text for m in messages)
        text = self.answer(
            prompt, kwargs.get("temperature", self.temperature), kwargs.get("max_tokens", self.max_tokens)
        )
        input_tokens, output_tokens = len(prompt.split()), len(text.split())
        message = AIMessage(
            content=text,
            response_metadata={"model_name": self.model_name},
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def quiz_dataset(n: int = 6) -> list[dict[str, Any]]:
    """``n`` sums as examples: ``{"question": "What is 3 + 4?", "answer": 7}``."""
    return [{"question": f"What is {i + 3} + {2 * i + 1}?", "answer": 3 * i + 4} for i in range(n)]


def quiz_metric(example: dict[str, Any], prediction: Any) -> float:
    """1 when the answer's number appears in the output."""
    text = prediction.text if isinstance(prediction, BaseMessage) else str(prediction)
    return 1.0 if re.search(rf"(?<!\d){example['answer']}(?!\d)", text) else 0.0


__all__ = ["QuizChatModel", "quiz_dataset", "quiz_metric"]
