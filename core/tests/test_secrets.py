"""Secrets stay secret: registered values and secret-looking fields are masked in storage, logs and output."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

import stacktune
from stacktune import Categorical, Evaluation, Space, evaluate_examples
from stacktune.cli import cli
from stacktune.secrets import (
    MASK,
    RedactingStream,
    forget_secrets,
    is_secret_name,
    redact,
    register_secret,
    register_secrets_in,
    register_secrets_of,
)
from stacktune.texts import stored_text

KEY = "sk-core-secret-0123456789"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    "name", ["api_key", "X-Api-Key", "apiKey", "access_token", "Authorization", "aws_secret_access_key", "password"]
)
def test_secret_looking_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["max_tokens", "keys", "input_tokens", "model", "temperature", "monkey", 3])
def test_names_that_only_look_alike_are_not_secret(name: object) -> None:
    assert not is_secret_name(name)


def test_a_registered_value_is_masked_wherever_it_appears() -> None:
    register_secret(KEY)
    text = f"401: Incorrect API key provided: {KEY}. (key={KEY!r})"
    assert redact(text) == f"401: Incorrect API key provided: {MASK}. (key='{MASK}')"
    assert redact({"error": [text], "n": 3, "ok": None}) == {"error": [redact(text)], "n": 3, "ok": None}


def test_short_and_non_text_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret(12345678)
    assert redact("abc 12345678") == "abc 12345678"


def test_a_bearer_header_registers_its_token_too() -> None:
    register_secret(f"Bearer {KEY}")
    assert KEY not in redact(f"the key {KEY} alone")


def test_secret_looking_fields_are_masked_without_registration() -> None:
    assert redact({"api_key": "anything-at-all", "max_tokens": 5, "headers": {"X-Api-Key": "h-123"}}) == {
        "api_key": MASK,
        "max_tokens": 5,
        "headers": {"X-Api-Key": MASK},
    }
    text = "LM('gpt', api_key='abc-123', max_tokens=5) {\"X-Api-Key\": \"h-123\"} Authorization: Bearer tok-123456"
    masked = redact(text)
    assert "abc-123" not in masked and "h-123" not in masked and "tok-123456" not in masked
    assert "max_tokens=5" in masked


def test_clients_and_kwargs_register_their_secrets() -> None:
    class Client:
        def __init__(self) -> None:
            self.openai_api_key = SecretStr("sk-from-secretstr-123")
            self.default_headers = {"X-Api-Key": "sk-from-header-123", "User-Agent": "agent-007-visible"}
            self.model_name = "gpt-visible"

    register_secrets_of(Client())
    register_secrets_in({"extra_headers": {"authorization": "Bearer sk-from-kwargs-123"}, "temperature": 0.5})
    text = "sk-from-secretstr-123 sk-from-header-123 sk-from-kwargs-123 agent-007-visible gpt-visible"
    assert redact(text) == f"{MASK} {MASK} {MASK} agent-007-visible gpt-visible"


def test_stored_texts_are_redacted() -> None:
    register_secret(KEY)
    assert KEY not in stored_text({"input": f"my key is {KEY}"}, 300)


def test_the_stacktune_logger_masks_what_it_logs(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(KEY)
    with caplog.at_level(logging.INFO, logger="stacktune"):
        logging.getLogger("stacktune").warning("trial %d failed: %s", 3, f"401 for key {KEY}")
    assert "trial 3 failed: 401 for key ***" in caplog.text and KEY not in caplog.text


def test_a_redacting_stream_masks_writes() -> None:
    register_secret(KEY)
    written: list[str] = []

    class Sink:
        def write(self, text: str) -> int:
            written.append(text)
            return len(text)

    stream = RedactingStream(Sink())
    assert stream.write(f"echo {KEY}\n") == len(f"echo {KEY}\n")
    assert written == [f"echo {MASK}\n"]


def test_the_cli_masks_what_it_prints(tmp_path: Path) -> None:
    register_secret(KEY)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    stacktune.create_study("another", storage=storage)
    result = CliRunner().invoke(cli, ["show", f"study-{KEY}", "--storage", storage])
    assert result.exit_code != 0 and "study-***" in result.output and KEY not in result.output


class LeakyProgram:
    """An Optimizable whose choices' texts carry a key and whose every example fails with an error echoing it."""

    def __init__(self, model: str = "a") -> None:
        self.model = model

    def extract_variables(self) -> Space:
        models = {"a": f"LM('a', api_key='{KEY}')", "b": "LM('b', extra_headers={'X-Api-Key': 'hdr-abcdef-123'})"}
        return Space([Categorical("model", models, default="a", description=f"api_key={KEY}")])

    def apply_configuration(self, configuration: Mapping[str, object]) -> LeakyProgram:
        return LeakyProgram(str(configuration.get("model", self.model)))

    def evaluate(
        self, dataset: Sequence[Any], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> Evaluation:
        def run(example: Any) -> str:
            if example == "fail":
                raise PermissionError(f"401 Incorrect API key provided: {KEY}")
            return f"answer with {KEY}"

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)


def test_nothing_a_study_stores_holds_a_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    register_secret(KEY)
    database = tmp_path / "study.db"
    study = stacktune.create_study("leaky", storage=f"sqlite:///{database}")
    with caplog.at_level(logging.INFO, logger="stacktune"):
        study.optimize(LeakyProgram(), ["fail", f"input {KEY}", "ok"], lambda e, p: 1.0, n_trials=3)
    assert any(t.error is None and t.evaluation and t.evaluation.n_failures == 1 for t in study.trials)
    report = study.report(tmp_path / "report.html")
    texts = [caplog.text, study.trials_dataframe().to_csv(), report.read_text(encoding="utf-8")]
    assert all(KEY not in text for text in texts)
    assert KEY.encode() not in database.read_bytes()
    assert b"hdr-abcdef-123" not in database.read_bytes()  # a secret-looking field, never registered
    assert b"Incorrect API key provided: ***" in database.read_bytes()  # the message is kept, the key masked


def test_a_bare_key_in_text_is_not_taken_for_a_secret() -> None:
    assert redact("each option is key=value; token: expected") == "each option is key=value; token: expected"
    assert redact("cache_key=abc123 access_token: xyz789") == f"cache_key={MASK} access_token: {MASK}"


def test_the_progress_line_masks_a_secret_in_its_note(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacktune.study._progress import TrialProgress

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # the progress line is drawn on a terminal only
    register_secret(KEY)
    progress = TrialProgress("leaky", 2, lambda: "", enabled=True)
    with progress:
        progress.trial_done(stacktune.Usage(), f"401 {KEY}")
    printed = capsys.readouterr()
    assert "401 ***" in printed.out + printed.err and KEY[:8] not in printed.out + printed.err
