"""Against the real SmolLM2-135M: in-process and through the OpenAI-compatible server."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from stacktune_llamacpp import LocalModel, LocalServer, serve

pytestmark = pytest.mark.integration

STORY = [{"role": "user", "content": "Write one sentence about a cat who finds a key."}]
ANSWER = [{"role": "user", "content": "What is the capital of France? Answer in one short sentence."}]


def _text(response: dict[str, Any]) -> str:
    return str(response["choices"][0]["message"]["content"])


def _client(server: LocalServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="not-needed", **kwargs)


def test_in_process_completion_with_usage(local_model: LocalModel) -> None:
    response = local_model.create_chat_completion(messages=ANSWER, temperature=0.0, max_tokens=32)
    assert response["object"] == "chat.completion" and response["model"] == "smollm2"
    assert "paris" in _text(response).lower()
    usage = response["usage"]
    assert usage["prompt_tokens"] > 10
    assert 0 < usage["completion_tokens"] <= 32
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_max_tokens_bounds_the_completion(local_model: LocalModel) -> None:
    response = local_model.create_chat_completion(messages=STORY, temperature=0.0, max_tokens=4)
    assert response["usage"]["completion_tokens"] == 4
    assert response["choices"][0]["finish_reason"] == "length"


def test_seed_makes_sampling_reproducible_and_seeds_differ(local_model: LocalModel) -> None:
    def sample(seed: int) -> str:
        return _text(local_model.create_chat_completion(messages=STORY, temperature=1.2, max_tokens=24, seed=seed))

    first = {seed: sample(seed) for seed in range(4)}
    again = {seed: sample(seed) for seed in reversed(range(4))}  # the call order does not matter
    assert first == again
    assert len(set(first.values())) > 1


def test_temperature_and_top_p_reach_the_model(local_model: LocalModel) -> None:
    greedy = _text(local_model.create_chat_completion(messages=STORY, temperature=0.0, max_tokens=24))
    # top_p this small keeps only the most likely token: any seed at any temperature gives the greedy text
    narrow = {
        _text(local_model.create_chat_completion(messages=STORY, temperature=1.5, top_p=1e-6, max_tokens=24, seed=seed))
        for seed in range(3)
    }
    assert narrow == {greedy}
    wide = {
        _text(local_model.create_chat_completion(messages=STORY, temperature=1.5, top_p=1.0, max_tokens=24, seed=seed))
        for seed in range(3)
    }
    assert wide != {greedy}


def test_stop_reaches_the_model(local_model: LocalModel) -> None:
    full = _text(local_model.create_chat_completion(messages=STORY, temperature=0.0, max_tokens=24))
    words = full.split()
    assert len(words) >= 3, full
    stop = f" {words[2]}"
    cut = local_model.create_chat_completion(messages=STORY, temperature=0.0, max_tokens=24, stop=[stop])
    assert _text(cut) == full[: full.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"


def test_concurrent_calls_match_sequential_ones(local_model: LocalModel) -> None:
    def ask(seed: int) -> str:
        return _text(local_model.create_chat_completion(messages=STORY, temperature=1.0, max_tokens=12, seed=seed))

    sequential = [ask(seed) for seed in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(ask, range(4))) == sequential


def test_server_answers_an_openai_chat_completion(local_server: LocalServer) -> None:
    assert local_server.is_running() and local_server.model == "smollm2"
    client = _client(local_server)
    assert [model.id for model in client.models.list()] == ["smollm2"]
    response = client.chat.completions.create(
        model=local_server.model,
        messages=ANSWER,  # type: ignore[arg-type]
        temperature=0.0,
        max_tokens=32,
    )
    assert "paris" in (response.choices[0].message.content or "").lower()
    assert response.usage is not None
    assert response.usage.prompt_tokens > 10 and 0 < response.usage.completion_tokens <= 32


def test_server_honours_seed_and_max_tokens(local_server: LocalServer) -> None:
    client = _client(local_server)

    def ask(seed: int, max_tokens: int = 16) -> tuple[str, int]:
        response = client.chat.completions.create(
            model=local_server.model,
            messages=STORY,  # type: ignore[arg-type]
            temperature=1.2,
            max_tokens=max_tokens,
            seed=seed,
        )
        assert response.usage is not None
        return response.choices[0].message.content or "", response.usage.completion_tokens

    assert ask(5) == ask(5)
    assert len({ask(seed)[0] for seed in range(3)}) > 1
    assert ask(5, max_tokens=3)[1] == 3


def test_server_honours_max_completion_tokens(local_server: LocalServer) -> None:
    """What current OpenAI clients (ChatOpenAI) send; llama.cpp's own server would ignore it."""
    response = _client(local_server).chat.completions.create(
        model=local_server.model,
        messages=STORY,
        temperature=0.0,
        max_completion_tokens=3,  # type: ignore[arg-type]
    )
    assert response.usage is not None and response.usage.completion_tokens == 3


def test_server_stops_cleanly() -> None:
    with serve() as server:
        port, pid = server.port, server.pid
        assert _client(server).models.list().data[0].id == "smollm2"
    assert not server.is_running() and pid is not None and port is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_a_killed_server_fails_the_next_request_fast() -> None:
    with serve() as server:
        client = _client(server, max_retries=0, timeout=60.0)
        assert client.models.list().data[0].id == "smollm2"
        server.kill()
        with pytest.raises(openai.APIConnectionError) as caught:
            client.chat.completions.create(model=server.model, messages=ANSWER, max_tokens=8)  # type: ignore[arg-type]
        assert not isinstance(caught.value, openai.APITimeoutError)  # refused at once, not hung until the timeout
