"""The stacktune conformance suite on a chain with declared, conditional and undeclared knobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField
from langchain_openai import ChatOpenAI

from stacktune_conformance import OptimizableTests
from stacktune_langchain import LangChainAdapter
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric


def not_too_hot(configuration: Mapping[str, Any]) -> str | None:
    """A rule over two knobs, so the suite checks constraints too."""
    if configuration.get("llm") == "quiz" and float(configuration.get("llm==quiz/temperature", 0.0) or 0.0) > 1.8:
        return "the quiz model rambles above temperature 1.8"
    return None


class TestLangChainAdapter(OptimizableTests):
    @pytest.fixture
    def optimizable(self) -> LangChainAdapter:
        model = (
            QuizChatModel(fail_on="boom")
            .configurable_fields(
                temperature=ConfigurableField(id="temperature"),
            )
            .configurable_alternatives(
                ConfigurableField(id="llm"),
                default_key="quiz",
                prefix_keys=True,
                cold=QuizChatModel(model_name="cold", temperature=0.1, fail_on="boom"),
            )
        )
        prompt = ChatPromptTemplate([("system", "You answer sums."), ("human", "{question}")])
        return LangChainAdapter(
            prompt | model | StrOutputParser(),
            prompts={"step0.prompt.system": ["Be careful: you answer sums."]},
            constraints=[not_too_hot],
        )

    @pytest.fixture
    def dataset(self) -> list[dict[str, Any]]:
        return quiz_dataset(4)

    @pytest.fixture
    def metric(self) -> Callable[[Any, Any], float]:
        return quiz_metric

    @pytest.fixture
    def at_fault_server(self) -> Callable[[str], LangChainAdapter]:
        def at(base_url: str) -> LangChainAdapter:
            model = ChatOpenAI(
                base_url=base_url, api_key="sk-conformance-0000", model="fault", timeout=1.0, max_retries=0
            )  # type: ignore[arg-type]
            chain = ChatPromptTemplate([("human", "{question}")]) | model | StrOutputParser()
            return LangChainAdapter(chain, input_of=lambda example: {"question": example["question"]})

        return at

    @pytest.fixture
    def failing_example(self) -> dict[str, Any]:
        return {"question": "What is 1 + 1? boom", "answer": 2}
