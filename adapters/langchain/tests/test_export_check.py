"""A runnable among alternatives, its export checked against the tuned chain, and LangChain's serialization."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain_core._api import LangChainBetaWarning
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

from stacktune import ExportMismatch, check_export
from stacktune_langchain import LangChainAdapter
from stacktune_langchain.testing import QuizChatModel, quiz_dataset


def quiz_chain() -> Runnable[Any, Any]:
    return ChatPromptTemplate([("system", "Be careful."), ("human", "{question}")]) | QuizChatModel()


def test_plain_examples_go_in_as_dicts_and_messages_come_back_as_text() -> None:
    adapter = LangChainAdapter(quiz_chain())
    example = {"question": "What is 1 + 2?", "answer": 3}
    converted = adapter.to_input(example)
    assert converted == example and converted is not example
    assert adapter.from_output(AIMessage("The answer is 3.")) == "The answer is 3."
    assert adapter.from_output("plain") == "plain"
    adapter.check_input(converted)
    with pytest.raises(KeyError, match="question"):
        adapter.check_input({"query": "What is 1 + 2?"})


def test_the_export_sends_what_the_tuned_chain_sends() -> None:
    adapter = LangChainAdapter(quiz_chain())
    configuration = {"step1.model.temperature": 0.0, "step1.model.max_tokens": 16}
    tuned = adapter.apply_configuration(configuration)
    check_export(tuned, tuned.to_native(), quiz_dataset(2), configuration)


def test_an_export_that_lost_a_knob_is_caught_by_name() -> None:
    chain = quiz_chain()
    tuned = LangChainAdapter(chain).apply_configuration({"step1.model.temperature": 0.0})
    with pytest.raises(ExportMismatch, match="'step1.model.temperature'"):
        check_export(tuned, chain, quiz_dataset(1), {"step1.model.temperature": 0.0})


def test_a_tuned_chain_round_trips_through_langchain_serialization(quiz_server: str) -> None:
    model = ChatOpenAI(base_url=quiz_server, api_key="local", model="quiz", temperature=0.9, max_retries=0)  # type: ignore[arg-type]
    chain = ChatPromptTemplate([("system", "Be careful."), ("human", "{question}")]) | model | StrOutputParser()
    adapter = LangChainAdapter(chain)
    temperature = next(name for name in adapter.extract_variables().names if name.endswith("temperature"))
    tuned = adapter.apply_configuration({temperature: 0.0})
    text = dumps(tuned.to_native())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainBetaWarning)  # loads is "beta" in langchain-core 1.x
        loaded = loads(
            text,
            allowed_objects="all",  # our own file: ChatOpenAI is outside langchain_core
            secrets_map={"OPENAI_API_KEY": "local"},
            valid_namespaces=["langchain_openai"],
        )
    check_export(tuned, loaded, quiz_dataset(2), {temperature: 0.0})
    assert tuned.evaluate(quiz_dataset(3), lambda e, p: str(e["answer"]) in p).score == 1.0
