"""A ChatOpenAI chain against stacktune_conformance's fault server: failures counted, no hang, no key stored."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI

import stacktune
from stacktune.secrets import forget_secrets
from stacktune_conformance.faults import FaultServer
from stacktune_langchain import LangChainAdapter

KEY = "sk-langchain-fault-0123456789"
HEADER_KEY = "hdr-langchain-fault-987654"
EXAMPLES = [{"text": f"review {i}", "label": "positive"} for i in range(3)]


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def chain_at(server: FaultServer, *, timeout: float = 5.0) -> Runnable[Any, Any]:
    model = ChatOpenAI(
        base_url=server.url,
        api_key=KEY,  # type: ignore[arg-type]
        default_headers={"X-Api-Key": HEADER_KEY},
        model="fault-model",
        timeout=timeout,
        max_retries=0,
        temperature=0.0,
    )
    return ChatPromptTemplate([("human", "{text}")]) | model | StrOutputParser()


def adapter_at(server: FaultServer, **kwargs: Any) -> LangChainAdapter:
    return LangChainAdapter(chain_at(server, **kwargs), input_of=lambda e: {"text": e["text"]})


def right(example: dict[str, str], prediction: object) -> bool:
    return prediction == example["label"]


def test_the_chain_answers_through_the_fault_server(fault_server: FaultServer) -> None:
    evaluation = adapter_at(fault_server).evaluate(EXAMPLES, right)
    assert evaluation.scores == (1.0, 1.0, 1.0) and evaluation.usage.calls == 3 == fault_server.requests


def test_failed_calls_are_counted(fault_server: FaultServer) -> None:
    fault_server.mode = "500"
    evaluation = adapter_at(fault_server).evaluate(EXAMPLES, right)
    assert evaluation.scores == (0.0, 0.0, 0.0) and len(evaluation.failures) == 3
    assert (evaluation.usage.calls, evaluation.usage.failed_calls) == (3, 3) == (fault_server.requests, 3)


def test_a_hanging_server_never_holds_an_example_past_the_timeout(fault_server: FaultServer) -> None:
    fault_server.mode = "hang"
    start = time.monotonic()
    evaluation = adapter_at(fault_server, timeout=0.5).evaluate(EXAMPLES[:1], right)
    assert time.monotonic() - start < 5.0
    assert "Timeout" in evaluation.failures[0].error_type and evaluation.usage.failed_calls == 1


def test_a_key_the_server_echoes_is_stored_nowhere(
    fault_server: FaultServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fault_server.mode = "echo_key"
    adapter = adapter_at(fault_server)
    database = tmp_path / "study.db"
    study = stacktune.create_study("echo", storage=f"sqlite:///{database}")
    with caplog.at_level(logging.INFO, logger="stacktune"):
        study.optimize(adapter, EXAMPLES, right, n_trials=2)
    assert fault_server.headers[0]["x-api-key"] == HEADER_KEY
    assert study.trials[0].error is not None and "***" in study.trials[0].error
    texts = [caplog.text, study.trials_dataframe().to_csv(), adapter.extract_variables().to_json()]
    for secret in (KEY, HEADER_KEY):
        assert all(secret not in text for text in texts), secret
        assert secret.encode() not in database.read_bytes(), secret
