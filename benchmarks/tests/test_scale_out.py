"""The scale-out benchmark's stub server and its workers' task (the figures themselves are printed, not tested)."""

from __future__ import annotations

import httpx
import scale_out
from stub_server import StubServer

from stacktune_prompt import Prompt


def test_the_stub_answers_like_an_openai_server_and_counts() -> None:
    with StubServer(delay=0.0) as stub:
        answer = httpx.post(f"{stub.url}/chat/completions", json={"messages": [{"role": "user", "content": "x" * 40}]})
        assert answer.json()["choices"][0]["message"]["content"] == "positive"
        assert answer.json()["usage"] == {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
        assert stub.stats() == {"answered": 1, "refused_429": 0}


def test_the_stub_refuses_past_its_limit_with_retry_after() -> None:
    with StubServer(delay=0.0, requests_per_minute=60) as stub:  # one a second, one at once
        statuses = [httpx.post(f"{stub.url}/chat/completions", json={}).status_code for _ in range(3)]
        assert statuses[0] == 200 and 429 in statuses[1:]
        refused = httpx.post(f"{stub.url}/chat/completions", json={})
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert stub.stats()["refused_429"] >= 2


def test_the_workers_task_is_a_prompt_on_the_stub_with_the_rate_limit_asked_for() -> None:
    setup = scale_out.task.build(url="http://127.0.0.1:9/v1", examples="6", rpm="540")
    assert isinstance(setup.target, Prompt) and len(setup.dataset) == 6
    endpoint = setup.target.client
    assert endpoint.rate_limit is not None and endpoint.rate_limit.requests_per_minute == 540
    assert scale_out.task.objectives == ("score", "latency")
