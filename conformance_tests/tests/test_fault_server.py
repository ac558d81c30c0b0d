"""The fault server does what each mode says, through a plain HTTP client."""

from __future__ import annotations

import json

import httpx
import pytest

from stacktune_conformance.faults import COMPLETION_TOKENS, MODES, FaultServer, refused_url


def post(server: FaultServer, *, timeout: float = 5.0, key: str = "sk-sent-123456") -> httpx.Response:
    return httpx.post(
        f"{server.url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
    )


def test_ok_answers_a_chat_completion_with_usage(fault_server: FaultServer) -> None:
    body = post(fault_server).json()
    assert body["choices"][0]["message"]["content"] == "positive" and body["model"] == "m"
    assert body["usage"]["completion_tokens"] == COMPLETION_TOKENS and fault_server.requests == 1


def test_a_reply_may_be_a_function_of_the_request() -> None:
    with FaultServer(reply=lambda body: f"you said {body['messages'][-1]['content']}") as server:
        assert post(server).json()["choices"][0]["message"]["content"] == "you said hi"


@pytest.mark.parametrize(
    ("mode", "status", "check"),
    [
        ("500", 500, lambda r: "server error" in r.text),
        ("429", 429, lambda r: r.headers["retry-after"] == "1"),
        ("malformed", 200, lambda r: r.text.startswith("<html>")),
        ("empty_choices", 200, lambda r: r.json()["choices"] == []),
        ("no_usage", 200, lambda r: "usage" not in r.json()),
        ("echo_key", 401, lambda r: "sk-sent-123456" in json.loads(r.text)["error"]["message"]),
    ],
)
def test_each_answering_mode(fault_server: FaultServer, mode: str, status: int, check: object) -> None:
    fault_server.mode = mode
    response = post(fault_server)
    assert response.status_code == status and check(response)  # type: ignore[operator]


def test_hang_drip_and_close_fail_the_client(fault_server: FaultServer) -> None:
    fault_server.mode = "hang"
    with pytest.raises(httpx.ReadTimeout):
        post(fault_server, timeout=0.3)
    fault_server.mode = "close"
    with pytest.raises(httpx.RemoteProtocolError):
        post(fault_server)
    fault_server.mode = "drip"
    fault_server.drip_interval = 0.01
    fault_server.drip_bytes = 50
    with httpx.stream("POST", f"{fault_server.url}/chat/completions", json={"model": "m"}, timeout=5) as response:
        chunks = list(response.iter_bytes())
    assert len(chunks) > 10 and json.loads(b"".join(chunks))["choices"]  # one byte at a time, then whole


def test_queued_modes_come_first_and_unknown_modes_are_refused(fault_server: FaultServer) -> None:
    fault_server.queue("500", "429")
    assert [post(fault_server).status_code for _ in range(3)] == [500, 429, 200]
    with pytest.raises(ValueError, match="unknown fault mode 'teapot'; modes: ok, 500"):
        fault_server.mode = "teapot"
    assert set(MODES) >= {"ok", "500", "429", "hang", "drip", "malformed", "empty_choices", "close", "no_usage"}


def test_refused_url_refuses() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{refused_url()}/chat/completions", json={}, timeout=2)
