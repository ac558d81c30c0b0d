"""The max_completion_tokens shim, offline: a recording ASGI app stands in for llama.cpp's server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from stacktune_llamacpp.openai_server import MaxCompletionTokensShim, rewrite_body


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"max_completion_tokens": 5}, {"max_tokens": 5}),
        ({"max_completion_tokens": 5, "max_tokens": 7}, {"max_tokens": 7}),
        ({"max_tokens": 7}, {"max_tokens": 7}),
        ({"max_completion_tokens": None, "seed": 1}, {"max_completion_tokens": None, "seed": 1}),
    ],
)
def test_rewrite_body(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert json.loads(rewrite_body(json.dumps(given).encode())) == expected


def test_non_json_bodies_pass_through() -> None:
    assert rewrite_body(b"not json") == b"not json"


def run(path: str, body: bytes, method: str = "POST") -> tuple[bytes, dict[bytes, bytes]]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen["body"], seen["headers"] = message["body"], dict(scope["headers"])

    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        return None

    scope = {"type": "http", "method": method, "path": path, "headers": [(b"content-length", b"999")]}
    asyncio.run(MaxCompletionTokensShim(app)(scope, receive, send))
    return seen["body"], seen["headers"]


def test_chat_completions_are_rewritten_with_a_correct_length() -> None:
    body, headers = run("/v1/chat/completions", json.dumps({"max_completion_tokens": 4}).encode())
    assert json.loads(body) == {"max_tokens": 4}
    assert headers[b"content-length"] == str(len(body)).encode()


def test_other_paths_are_untouched() -> None:
    original = json.dumps({"max_completion_tokens": 4}).encode()
    body, _ = run("/v1/embeddings", original)
    assert body == original[: len(original) // 2], "the app reads the request itself"
