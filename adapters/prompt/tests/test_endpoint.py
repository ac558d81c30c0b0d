"""The HTTP path: request shape, retries with backoff (429, 5xx, timeouts), 4xx not retried, keys, prices."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import stacktune
from stacktune_prompt import (
    Endpoint,
    EndpointError,
    Price,
    Prompt,
    PromptAdapter,
    RetryPolicy,
    TransientError,
)

from .conftest import accuracy

SECRET = "sk-test-DO-NOT-LEAK-1234567890"


def ok(content: str = "positive", prompt_tokens: int = 11, completion_tokens: int = 2) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        },
    )


class Server:
    """A scripted MockTransport: answers from ``script`` in order (the last one repeats), records requests."""

    def __init__(self, *script: httpx.Response | Exception) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def endpoint_prompt(tmp_path: Path, sleeps: Sleeps) -> Callable[..., tuple[Prompt, Server]]:
    def make(
        *script: httpx.Response | Exception,
        model: str = "gpt-4o-mini",
        cache: Any = False,
        attempts: int = 4,
        **endpoint: Any,
    ) -> tuple[Prompt, Server]:
        server = Server(*script)
        target = Endpoint("http://llm.test/v1/", model, transport=httpx.MockTransport(server), **endpoint)
        retry = RetryPolicy(attempts=attempts, initial_wait=0.5, max_wait=8.0, jitter=0.0, sleep=sleeps)
        prompt = Prompt(
            instructions="Classify the sentiment.",
            template="{text}",
            model=target,
            retry=retry,
            cache=tmp_path / "cache" if cache is True else cache,
            max_tokens=5,
            temperature=0.2,
            top_p=0.9,
            seed=7,
        )
        return prompt, server

    return make


def test_request_shape_and_usage(endpoint_prompt: Callable[..., tuple[Prompt, Server]]) -> None:
    prompt, server = endpoint_prompt(ok("The review is positive.", 11, 5))
    reply = prompt.reply({"text": "lovely"})
    assert reply.prediction == "The review is positive."
    assert str(server.requests[0].url) == "http://llm.test/v1/chat/completions"
    assert server.bodies[0] == {
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 5,
        "seed": 7,
        "messages": [{"role": "system", "content": "Classify the sentiment."}, {"role": "user", "content": "lovely"}],
    }
    assert "authorization" not in server.requests[0].headers
    usage = reply.usage
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (1, 11, 5)
    assert usage.cost_usd == pytest.approx((11 * 0.15 + 5 * 0.60) / 1e6) and usage.unpriced_calls == 0


@pytest.mark.parametrize(
    "transient",
    [
        httpx.Response(429, text="slow down"),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_transient_errors_are_retried_with_exponential_backoff(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]], sleeps: Sleeps, transient: httpx.Response | Exception
) -> None:
    prompt, server = endpoint_prompt(transient, transient, ok())
    assert prompt.reply({"text": "x"}).prediction == "positive"
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_retry_after_is_honoured_up_to_max_wait(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]], sleeps: Sleeps
) -> None:
    prompt, _ = endpoint_prompt(
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(429, headers={"Retry-After": "120"}), ok()
    )
    prompt.reply({"text": "x"})
    assert sleeps == [3.0, 8.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]], sleeps: Sleeps, status: int
) -> None:
    prompt, server = endpoint_prompt(httpx.Response(status, text="bad request body"), ok())
    with pytest.raises(EndpointError, match=f"answered {status}: bad request body") as info:
        prompt.reply({"text": "x"})
    assert info.value.status_code == status
    assert len(server.requests) == 1 and sleeps == []


def test_an_example_that_still_fails_scores_zero_and_the_evaluation_goes_on(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]],
) -> None:
    prompt, server = endpoint_prompt(
        ok(), httpx.Response(503), httpx.Response(503), httpx.Response(503), ok(), attempts=3
    )
    data = [{"text": "a", "label": "positive"}] * 3
    evaluation = PromptAdapter(prompt).evaluate(data, accuracy)
    assert evaluation.scores == (1.0, 0.0, 1.0)
    assert [(f.index, f.error_type) for f in evaluation.failures] == [(1, "TransientError")]
    assert "503" in evaluation.failures[0].message
    assert len(server.requests) == 5
    assert evaluation.usage.calls == 5 and evaluation.usage.failed_calls == 3  # every attempt is a call


def test_malformed_answers_are_errors(endpoint_prompt: Callable[..., tuple[Prompt, Server]]) -> None:
    prompt, _ = endpoint_prompt(httpx.Response(200, json={"choices": []}))
    with pytest.raises(EndpointError, match="without choices"):
        prompt.reply({"text": "x"})


def test_the_api_key_is_read_at_call_time(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompt, server = endpoint_prompt(ok(), api_key_env="STACKTUNE_TEST_KEY")
    monkeypatch.delenv("STACKTUNE_TEST_KEY", raising=False)
    with pytest.raises(EndpointError, match="'STACKTUNE_TEST_KEY'.*is not set"):
        prompt.reply({"text": "x"})
    assert server.requests == []
    monkeypatch.setenv("STACKTUNE_TEST_KEY", SECRET)
    prompt.reply({"text": "x"})
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_the_api_key_is_never_stored_cached_or_shown(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STACKTUNE_TEST_KEY", SECRET)
    prompt, _ = endpoint_prompt(ok(), api_key_env="STACKTUNE_TEST_KEY", cache=True)
    adapter = PromptAdapter(prompt)
    storage = tmp_path / "study.db"
    study = stacktune.create_study("keys", storage=f"sqlite:///{storage}")
    study.optimize(prompt, [{"text": "a", "label": "positive"}], accuracy, n_trials=2)
    endpoint = prompt.client
    assert isinstance(endpoint, Endpoint)
    shown = [
        repr(prompt),
        repr(adapter),
        repr(endpoint),
        str(dataclasses.asdict(endpoint)),
        str(vars(endpoint)),
        adapter.extract_variables().to_json(),
        json.dumps(study.best.configuration),
    ]
    assert all(SECRET not in text for text in shown)
    assert "STACKTUNE_TEST_KEY" in repr(endpoint)  # the variable's name is fine to show
    stored = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert stored and all(SECRET.encode() not in data for data in stored)


def test_prices_from_the_table_the_prompt_and_the_endpoint(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]],
) -> None:
    unknown, _ = endpoint_prompt(ok(prompt_tokens=1000, completion_tokens=0), model="my-model")
    usage = unknown.reply({"text": "x"}).usage
    assert usage.unpriced_calls == 1 and usage.cost_usd == 0.0
    extended = dataclasses.replace(unknown, prices={"my-model": Price(2.0, 4.0)})
    assert extended.reply({"text": "x"}).usage.cost_usd == pytest.approx(1000 * 2.0 / 1e6)
    own, _ = endpoint_prompt(ok(prompt_tokens=1000, completion_tokens=0), price=Price(1.0, 1.0))
    assert own.reply({"text": "x"}).usage.cost_usd == pytest.approx(1000 / 1e6)


def test_prompt_prices_must_be_price_values(endpoint_prompt: Callable[..., tuple[Prompt, Server]]) -> None:
    prompt, _ = endpoint_prompt(ok(), model="my-model")
    with pytest.raises(TypeError, match=r"prices\['my-model'\] must be a stacktune.pricing.Price"):
        dataclasses.replace(prompt, prices={"my-model": (2.0, 4.0)})


def test_endpoint_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        Endpoint("llm.test/v1", "m")
    with pytest.raises(ValueError, match="timeout must be > 0"):
        Endpoint("http://llm.test/v1", "m", timeout=0)
    assert Endpoint("http://llm.test/v1/", "m").cache_identity == "endpoint:http://llm.test/v1|m"


class _ClosableTransport(httpx.MockTransport):
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_close_releases_the_connections_and_a_later_call_opens_new_ones() -> None:
    transport = _ClosableTransport(Server(ok("positive")))
    endpoint = Endpoint("http://llm.test/v1", "m", transport=transport)
    endpoint.close()  # nothing opened yet: nothing to close
    assert transport.closed == 0
    endpoint.create_chat_completion(messages=[{"role": "user", "content": "hi"}])
    endpoint.close()
    endpoint.close()
    assert transport.closed == 1
    endpoint.create_chat_completion(messages=[{"role": "user", "content": "hi"}])
    endpoint.close()
    assert transport.closed == 2


class _SlowHandler(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.release.wait(10)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    _SlowHandler.release.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    _SlowHandler.release.set()
    server.shutdown()
    server.server_close()


def test_a_real_socket_timeout_is_transient(slow_server: str, sleeps: Sleeps) -> None:
    prompt = Prompt(
        instructions="x",
        template="{text}",
        model=Endpoint(slow_server, "m", timeout=0.2),
        cache=False,
        retry=RetryPolicy(attempts=2, initial_wait=0.0, jitter=0.0, sleep=sleeps),
    )
    with pytest.raises(TransientError, match="timed out after 0.2s"):
        prompt.reply({"text": "x"})
    assert len(sleeps) == 1  # retried once, then gave up


def test_a_refused_connection_is_transient(sleeps: Sleeps) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prompt = Prompt(
        instructions="x",
        template="{text}",
        model=Endpoint(f"http://127.0.0.1:{port}/v1", "m"),
        cache=False,
        retry=RetryPolicy(attempts=3, initial_wait=0.0, jitter=0.0, sleep=sleeps),
    )
    with pytest.raises(TransientError, match="cannot reach"):
        prompt.reply({"text": "x"})
    assert len(sleeps) == 2


def test_an_unreadable_retry_after_falls_back_to_the_usual_backoff(
    endpoint_prompt: Callable[..., tuple[Prompt, Server]], sleeps: Sleeps
) -> None:
    prompt, server = endpoint_prompt(httpx.Response(429, headers={"Retry-After": "soon"}), ok())
    assert prompt.reply({"text": "x"}).prediction == "positive"
    assert len(server.requests) == 2 and sleeps == [0.5]


def test_retry_after_as_an_http_date() -> None:
    import email.utils
    import time

    from stacktune_prompt._models import _retry_after

    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no extra wait
    for usegmt in (True, False):  # "GMT" or "-0000" (a date without a zone): both are UTC
        wait = _retry_after(email.utils.formatdate(time.time() + 30, usegmt=usegmt))
        assert wait is not None and 25 <= wait <= 31
