"""The Endpoint against a real server that fails on purpose (stacktune_conformance's fault server).

Failures are counted (every HTTP attempt is a call, so a call budget holds), no call outlives
its timeout however the server misbehaves, a broken body is named with its URL and first
bytes, and an API key the server echoes is stored and printed nowhere.
"""

from __future__ import annotations

import copy
import logging
import pickle
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import stacktune
from stacktune.cli import cli
from stacktune.secrets import forget_secrets
from stacktune_conformance.faults import FaultServer, refused_url
from stacktune_prompt import Endpoint, EndpointError, Prompt, PromptAdapter, RetryPolicy, TransientError

from .conftest import accuracy

KEY = "sk-fault-test-KEY-0123456789abcdef"
HEADER_KEY = "hdr-fault-test-KEY-9876543210"
EXAMPLES = [{"text": f"review {i}", "label": "positive"} for i in range(8)]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    forget_secrets()
    yield
    forget_secrets()


def prompt_at(url: str, *, timeout: float = 5.0, attempts: int = 3, sleeps: Sleeps | None = None, **kw: Any) -> Prompt:
    endpoint = Endpoint(url, "fault-model", timeout=timeout, price=stacktune.FREE, **kw)
    retry = RetryPolicy(
        attempts=attempts, initial_wait=0.0, jitter=0.0, sleep=sleeps if sleeps is not None else Sleeps()
    )
    return Prompt(instructions="Classify.", template="{text}", model=endpoint, retry=retry, cache=False)


def test_a_dripping_server_cannot_hold_a_call_past_its_timeout(fault_server: FaultServer) -> None:
    fault_server.mode = "drip"
    fault_server.drip_interval = 0.05  # 400 bytes: 20 s if each read had its own timeout
    prompt = prompt_at(fault_server.url, timeout=1.0, attempts=1)
    start = time.monotonic()
    with pytest.raises(TransientError, match=r"timed out after 1.0s: the body was still arriving"):
        prompt.reply({"text": "x"})
    assert time.monotonic() - start < 3.0  # the timeout, plus one drip and some scheduling slack


def test_a_hanging_server_times_out_and_the_attempt_is_counted(fault_server: FaultServer) -> None:
    fault_server.mode = "hang"
    prompt = prompt_at(fault_server.url, timeout=0.5, attempts=2)
    start = time.monotonic()
    evaluation = PromptAdapter(prompt).evaluate(EXAMPLES[:1], accuracy)
    assert time.monotonic() - start < 3.0
    assert evaluation.failures[0].error_type == "TransientError" and "timed out" in evaluation.failures[0].message
    assert (evaluation.usage.calls, evaluation.usage.failed_calls) == (2, 2) == (fault_server.requests, 2)


def test_a_malformed_body_names_the_url_and_shows_its_first_bytes(fault_server: FaultServer) -> None:
    fault_server.mode = "malformed"
    prompt = prompt_at(fault_server.url, attempts=1)
    with pytest.raises(EndpointError) as raised:
        prompt.reply({"text": "x"})
    message = str(raised.value)
    assert f"{fault_server.url}/chat/completions" in message
    assert "not JSON" in message and "<html><body>502 Bad Gateway" in message


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("500", TransientError, "answered 500"),
        ("close", TransientError, "cannot reach"),
        ("empty_choices", EndpointError, "without choices"),
        ("echo_key", EndpointError, "answered 401"),
    ],
)
def test_every_failing_attempt_is_a_call(fault_server: FaultServer, mode: str, error: type, words: str) -> None:
    fault_server.mode = mode
    prompt = prompt_at(fault_server.url, attempts=3)
    evaluation = PromptAdapter(prompt).evaluate(EXAMPLES[:2], accuracy)
    assert evaluation.scores == (0.0, 0.0)
    assert {f.error_type for f in evaluation.failures} == {error.__name__}
    assert words in evaluation.failures[0].message
    assert evaluation.usage.calls == fault_server.requests == evaluation.usage.failed_calls
    retried = error is TransientError
    assert fault_server.requests == (6 if retried else 2)


def test_a_refused_connection_is_retried_and_counted() -> None:
    prompt = prompt_at(refused_url(), attempts=2)
    evaluation = PromptAdapter(prompt).evaluate(EXAMPLES[:1], accuracy)
    assert evaluation.failures[0].error_type == "TransientError"
    assert (evaluation.usage.calls, evaluation.usage.failed_calls) == (2, 2)


def test_429_waits_as_long_as_retry_after_says(fault_server: FaultServer) -> None:
    fault_server.retry_after = 3
    fault_server.queue("429", "429")
    sleeps = Sleeps()
    prompt = prompt_at(fault_server.url, attempts=3, sleeps=sleeps)
    reply = prompt.reply({"text": "x"})
    assert reply.prediction == "positive" and sleeps == [3.0, 3.0]
    assert fault_server.requests == 3


def test_an_answer_without_usage_is_a_call_with_no_tokens(fault_server: FaultServer) -> None:
    fault_server.mode = "no_usage"
    reply = prompt_at(fault_server.url).reply({"text": "x"})
    assert reply.prediction == "positive"
    assert (reply.usage.calls, reply.usage.total_tokens, reply.usage.failed_calls) == (1, 0, 0)


def test_a_call_budget_holds_against_a_server_that_always_fails(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.mode = "500"
    prompt = prompt_at(fault_server.url, attempts=3)
    study = stacktune.create_study("budget-faults", storage=f"sqlite:///{tmp_path / 'study.db'}")
    study.optimize(prompt, EXAMPLES, accuracy, n_trials=5, budget=stacktune.Budget(calls=5))
    # Checked as each example lands: at most one example's attempts (3) beyond the budget.
    assert 5 <= fault_server.requests <= 5 + 3
    assert "call budget 5 spent" in str(study.last_stop_reason)


def test_a_key_the_server_echoes_is_stored_and_printed_nowhere(
    fault_server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STACKTUNE_FAULT_KEY", KEY)
    fault_server.mode = "echo_key"
    prompt = prompt_at(fault_server.url, api_key_env="STACKTUNE_FAULT_KEY", headers={"X-Api-Key": HEADER_KEY})
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = stacktune.create_study("echo", storage=storage)
    with caplog.at_level(logging.INFO, logger="stacktune"):
        study.optimize(prompt, EXAMPLES[:2], accuracy, n_trials=2)
    assert fault_server.requests >= 2
    assert fault_server.headers[0]["x-api-key"] == HEADER_KEY  # the server did get (and echo) the key
    record = study.trials[0]
    assert record.error is not None and "Incorrect API key provided: ***" in record.error

    shown = CliRunner().invoke(cli, ["show", "echo", "--storage", storage])
    assert shown.exit_code == 0, shown.output
    frame = study.trials_dataframe().to_csv()
    report = tmp_path / "report.html"
    study.report(report)
    texts = [caplog.text, shown.output, frame, repr(prompt), report.read_text()]
    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for secret in (KEY, HEADER_KEY):
        assert all(secret not in text for text in texts), secret
        assert all(secret.encode() not in data for data in files), secret


def test_a_prompt_survives_pickle_and_deepcopy(fault_server: FaultServer) -> None:
    prompt = Prompt(
        instructions="Classify.",
        template="{text}",
        model=Endpoint(fault_server.url, "fault-model", price=stacktune.FREE, headers={"X-Team": "a"}),
        demos=[{"text": "good", "answer": "positive"}],
        n_demos=1,
        prices={"other": stacktune.FREE},
        cache=False,
    )
    prompt.reply({"text": "warm"})  # a live connection pool, cached renderings: none of it may travel
    for copied in (pickle.loads(pickle.dumps(prompt)), copy.deepcopy(prompt)):
        assert repr(copied) == repr(prompt)
        assert copied.messages({"text": "x"}) == prompt.messages({"text": "x"})
        assert dict(copied.prices) == dict(prompt.prices) and dict(copied.demos[0]) == dict(prompt.demos[0])
        assert copied.reply({"text": "y"}).prediction == "positive"
        adapter = PromptAdapter(copied)
        assert adapter.extract_variables().to_json() == PromptAdapter(prompt).extract_variables().to_json()
