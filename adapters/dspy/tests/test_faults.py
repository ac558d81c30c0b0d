"""A DSPy program on dspy.LM('openai/...') against stacktune_conformance's fault server.

Failed LM calls are counted (they never reach DSPy's history), a hanging server cannot hold
an example past the LM's timeout, and a key the server echoes (or one passed in
``extra_headers``) is stored nowhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import pytest

import stacktune
from stacktune.secrets import forget_secrets
from stacktune_conformance.faults import FaultServer
from stacktune_dspy import DSPyAdapter, LMSpec

KEY = "sk-dspy-fault-0123456789"
HEADER_KEY = "hdr-dspy-fault-987654"


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


def examples(n: int) -> list[dspy.Example]:
    return [dspy.Example(text=f"review {i}", label="positive").with_inputs("text") for i in range(n)]


def right(example: Any, prediction: Any, trace: Any = None) -> float:
    return 1.0 if str(prediction.label).strip() == example.label else 0.0


def adapter_at(server: FaultServer, *, timeout: float = 5.0) -> DSPyAdapter:
    spec = LMSpec(
        "openai/fault-model",
        {
            "api_base": server.url,
            "api_key": KEY,
            "extra_headers": {"X-Api-Key": HEADER_KEY},
            "cache": False,
            "num_retries": 0,
            "timeout": timeout,
        },
        name="fault",
    )
    return DSPyAdapter(dspy.Predict("text -> label"), lm=spec, swap_modules=False)


def test_failed_lm_calls_are_counted(fault_server: FaultServer) -> None:
    fault_server.mode = "500"
    evaluation = adapter_at(fault_server).evaluate(examples(2), right)
    assert evaluation.scores == (0.0, 0.0) and len(evaluation.failures) == 2
    assert evaluation.usage.failed_calls == evaluation.usage.calls >= 2
    assert fault_server.requests >= evaluation.usage.calls  # LiteLLM may retry inside one LM call


def test_a_hanging_server_never_holds_an_example_past_the_timeout(fault_server: FaultServer) -> None:
    fault_server.mode = "hang"
    start = time.monotonic()
    evaluation = adapter_at(fault_server, timeout=0.5).evaluate(examples(1), right)
    assert time.monotonic() - start < 10.0
    assert evaluation.failures and evaluation.usage.failed_calls >= 1


def test_a_key_the_server_echoes_is_stored_nowhere(
    fault_server: FaultServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fault_server.mode = "echo_key"
    adapter = adapter_at(fault_server)
    database = tmp_path / "study.db"
    study = stacktune.create_study("echo", storage=f"sqlite:///{database}")
    with caplog.at_level(logging.INFO, logger="stacktune"):
        study.optimize(adapter, examples(2), right, n_trials=2)
    assert fault_server.headers[0]["x-api-key"] == HEADER_KEY
    assert study.trials[0].error is not None and "***" in study.trials[0].error
    texts = [caplog.text, study.trials_dataframe().to_csv(), adapter.extract_variables().to_json(), repr(adapter)]
    for secret in (KEY, HEADER_KEY):
        assert all(secret not in text for text in texts), secret
        assert secret.encode() not in database.read_bytes(), secret
