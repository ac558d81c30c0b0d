"""toy_framework: a tiny LLM "framework" for docs/writing-an-adapter.md.

A Chain fills a prompt template with a question and asks a model. ToyModel stands in
for an LLM so the tutorial runs offline and deterministically: it adds up the numbers
in the question, one addition per reasoning step (none when answering directly), slips
by one when the temperature is high, and answers with a sentence unless the prompt asks
for the number only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ToyModel:
    def complete(self, prompt: str, *, temperature: float, steps: int) -> Reply:
        numbers = [int(n) for n in re.findall(r"-?\d+", prompt)]
        answer = sum(numbers[: steps + 1]) + (1 if temperature > 1.0 else 0)
        text = str(answer) if "only the number" in prompt else f"The answer is {answer}."
        return Reply(text, prompt_tokens=len(prompt.split()), completion_tokens=len(text.split()) + 3 * steps)


@dataclass(frozen=True)
class Chain:
    template: str
    model: ToyModel = field(default_factory=ToyModel)
    temperature: float = 0.7
    reasoning: str = "direct"  # or "steps"
    steps: int = 1

    def invoke(self, question: str) -> Reply:
        prompt = self.template.format(question=question)
        steps = self.steps if self.reasoning == "steps" else 0
        return self.model.complete(prompt, temperature=self.temperature, steps=steps)
