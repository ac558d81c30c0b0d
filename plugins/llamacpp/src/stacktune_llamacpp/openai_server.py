"""llama-cpp-python's OpenAI-compatible server, with one compatibility fix.

Current OpenAI clients (``langchain-openai``'s ``ChatOpenAI`` among them) send the
answer length as ``max_completion_tokens``; llama-cpp-python's server only reads
``max_tokens`` and silently ignores the other, so answers run to the context limit.
:class:`MaxCompletionTokensShim` copies ``max_completion_tokens`` into ``max_tokens``
(when that is absent) before the server sees the request.

Run as ``python -m stacktune_llamacpp.openai_server`` with llama_cpp.server's arguments.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REWRITTEN_PATHS = ("/v1/chat/completions", "/v1/completions")


def rewrite_body(body: bytes) -> bytes:
    """The request body with ``max_completion_tokens`` copied to ``max_tokens`` when needed."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    if not isinstance(payload, dict) or payload.get("max_completion_tokens") is None:
        return body
    if payload.get("max_tokens") is None:
        payload["max_tokens"] = payload["max_completion_tokens"]
    del payload["max_completion_tokens"]
    return json.dumps(payload).encode()


class MaxCompletionTokensShim:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the body of a completion POST; pass every other request through untouched."""
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in _REWRITTEN_PATHS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        body = rewrite_body(b"".join(chunks))
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        scope = {**scope, "headers": headers}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def main(argv: list[str] | None = None) -> None:
    """Run llama_cpp.server's app behind the shim, with llama_cpp.server's command-line arguments."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    parser = argparse.ArgumentParser(description="llama.cpp's OpenAI-compatible server (stacktune)")
    add_args_from_model(parser, Settings)
    args = parser.parse_args(argv)
    # parse_model_from_args returns an instance; its annotation says a class
    server_settings = cast(ServerSettings, parse_model_from_args(ServerSettings, args))
    model_settings = [cast(ModelSettings, parse_model_from_args(ModelSettings, args))]
    app = create_app(server_settings=server_settings, model_settings=model_settings)
    uvicorn.run(
        MaxCompletionTokensShim(app),
        host=os.getenv("HOST", server_settings.host),
        port=int(os.getenv("PORT", server_settings.port)),
        log_level="warning",
    )


if __name__ == "__main__":  # pragma: no cover
    main()
