"""Shared offline fixtures: a two-predictor QA program (Predict + ChainOfThought) and a scripted LM."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import re
from collections.abc import Mapping, Sequence
from typing import Any

import dspy
import pytest

from stacktune_dspy.testing import ScriptedEngine, scripted_lm

CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "Peru": "Lima"}


class QA(dspy.Module):
    """Rewrite the question into a query (Predict), then answer it (ChainOfThought)."""

    def __init__(self) -> None:
        super().__init__()
        self.rewrite = dspy.Predict("question -> query")
        self.answer = dspy.ChainOfThought("question, query -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        query = self.rewrite(question=question).query
        return self.answer(question=question, query=query)


def answer_capitals(prompt: str, fields: Sequence[str]) -> Mapping[str, Any] | str:
    """Knows the capitals in CAPITALS; the question is the last thing asked in the prompt."""
    country = next((c for c in CAPITALS if re.search(rf"\b{c}\b", prompt)), None)
    values = {
        "query": f"capital of {country}",
        "reasoning": f"{country} is a country.",
        "answer": CAPITALS.get(country or "", "unknown"),
        "verdict": "ok",
    }
    return {name: values.get(name, "n/a") for name in fields}


def qa_example(country: str) -> dspy.Example:
    return dspy.Example(
        question=f"What is the capital of {country}?", answer=CAPITALS.get(country, "?"), query=f"capital of {country}"
    ).with_inputs("question")


def exact_answer(example: Any, prediction: Any, trace: Any = None) -> float:
    return 1.0 if str(prediction.answer).strip() == example.answer else 0.0


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(answer_capitals)


@pytest.fixture
def lm(engine: ScriptedEngine) -> dspy.LM:
    return scripted_lm(engine=engine)


@pytest.fixture
def program() -> QA:
    return QA()


@pytest.fixture
def dataset() -> list[dspy.Example]:
    return [qa_example(c) for c in ("France", "Italy", "Spain", "Japan")]


@pytest.fixture
def trainset() -> list[dspy.Example]:
    return [qa_example(c) for c in ("Peru", "Italy", "Spain", "Japan", "France")]


@pytest.fixture
def metric() -> Any:
    return exact_answer


@pytest.fixture
def qa_class() -> type[QA]:
    return QA
