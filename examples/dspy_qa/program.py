"""An ordinary DSPy program (capital-city QA), its data and its metric: nothing here knows stacktune.

The data (``stacktune_examples.capitals``) was written for the examples: 10 questions to score on
and 6 more as the demo pool.
"""

from __future__ import annotations

from typing import Any

import dspy

# The data, re-exported: the task and run.py read it from here.
from stacktune_examples.capitals import DEV as DEV
from stacktune_examples.capitals import INSTRUCTION_CANDIDATES as INSTRUCTION_CANDIDATES
from stacktune_examples.capitals import MORE

#: The demo pool.
TRAIN = MORE


class CapitalQA(dspy.Module):
    """Answers "What is the capital of X?" with a chain of thought."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.ChainOfThought("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        return self.answer(question=question)


def examples(pairs: dict[str, str]) -> list[dspy.Example]:
    return [
        dspy.Example(question=f"What is the capital of {country}?", answer=city).with_inputs("question")
        for country, city in pairs.items()
    ]


def names_the_city(example: Any, prediction: Any, trace: Any = None) -> float:
    """1 when the answer mentions the right city (the model is tiny: be lenient on form)."""
    return 1.0 if example.answer.lower() in str(prediction.answer).lower() else 0.0
