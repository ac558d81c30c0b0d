"""Chains for the offline tests: a fake chat model, declared and undeclared knobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from annotated_types import Interval
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField, Runnable, RunnableParallel
from langchain_openai import ChatOpenAI
from pydantic import Field

from stacktune_conformance.faults import FaultServer
from stacktune_langchain.testing import QuizChatModel

SYSTEM = "You answer sums."
CAREFUL = "Be careful: you answer sums."

# Never reachable: ChatOpenAI is only inspected and rebuilt offline, never called.
DUMMY_URL = "http://127.0.0.1:9/v1"


class CountingQuiz(QuizChatModel):
    """The quiz model, counting the calls that reach it (copies share the list)."""

    answered: list[str] = Field(default_factory=list, exclude=True)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.answered.append(messages[-1].text)
        return super()._generate(messages, stop, run_manager, **kwargs)


def quiz_prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate([("system", SYSTEM), ("human", "{question}")])


@pytest.fixture
def prompt() -> ChatPromptTemplate:
    return quiz_prompt()


@pytest.fixture
def simple_chain() -> Runnable[Any, Any]:
    """``prompt | QuizChatModel | parser``: declares nothing."""
    return quiz_prompt() | QuizChatModel() | StrOutputParser()


@pytest.fixture
def declared_model() -> Runnable[Any, Any]:
    """A fake model with configurable fields, inside configurable alternatives (prefixed keys)."""
    fields = QuizChatModel().configurable_fields(
        temperature=ConfigurableField(id="temperature", description="sampling temperature"),
        top_p=ConfigurableField(id="top_p", annotation=Annotated[float, Interval(ge=0.1, le=0.9)]),
    )
    return fields.configurable_alternatives(
        ConfigurableField(id="llm"),
        default_key="quiz",
        prefix_keys=True,
        cold=QuizChatModel(model_name="cold", temperature=0.1),
    )


@pytest.fixture
def openai_model() -> ChatOpenAI:
    return ChatOpenAI(base_url=DUMMY_URL, api_key="dummy", model="dummy-model", temperature=0.3)  # type: ignore[arg-type]


@pytest.fixture
def mixed_chain(declared_model: Runnable[Any, Any], openai_model: ChatOpenAI) -> Runnable[Any, Any]:
    """configurable_fields + configurable_alternatives + one undeclared ChatOpenAI (never called)."""
    style = quiz_prompt().configurable_alternatives(
        ConfigurableField(id="style"),
        default_key="plain",
        careful=ChatPromptTemplate([("system", CAREFUL), ("human", "{question}")]),
    )
    return RunnableParallel(draft=style | declared_model | StrOutputParser(), review=quiz_prompt() | openai_model)


def _quiz_answer(body: dict[str, Any]) -> str:
    """What QuizChatModel answers to the request (temperature and prompt matter)."""
    prompt = "\n".join(str(m["content"]) for m in body["messages"])
    return QuizChatModel().answer(prompt, body.get("temperature", 0.7), body.get("max_tokens"))


@pytest.fixture
def quiz_server() -> Iterator[str]:
    """An OpenAI-compatible endpoint answering like QuizChatModel (for chains LangChain can serialize)."""
    with FaultServer(reply=_quiz_answer) as server:
        yield server.url
