"""An offline stand-in for the local model: an OpenAI-compatible server on 127.0.0.1 that knows capitals.

It answers right only at a temperature of at most 0.5 (so the search has something to find),
in the format the caller asked for (DSPy's ``[[ ## answer ## ]]`` fields, JSON, or plain text),
and counts tokens as words, so the frameworks' prompts cost what their length says.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stacktune_examples.cross_framework.programs import DEV, HOLDOUT

CAPITALS = {**DEV, **HOLDOUT}


def answer(messages: list[dict[str, Any]], temperature: float) -> str:
    """What the fake says: the capital of the country in the last message, shaped as asked."""
    question = str(messages[-1]["content"])
    everything = " ".join(str(m["content"]) for m in messages)
    city = next((c for country, c in CAPITALS.items() if country in question), None)
    text = city if city is not None and temperature <= 0.5 else "I am not sure."
    fields = {"reasoning": "It is well known.", "answer": text} if "`reasoning`" in everything else {"answer": text}
    if "[[ ## answer ## ]]" in everything:
        return "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in fields.items()) + "[[ ## completed ## ]]"
    if "JSON" in everything:
        return json.dumps(fields)
    return text


class _Handler(BaseHTTPRequestHandler):
    requests = 0  # every request answered, by every fake server of the process (tests read it)
    _lock = threading.Lock()

    def do_POST(self) -> None:
        with _Handler._lock:
            _Handler.requests += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = answer(body["messages"], float(body.get("temperature") or 0.0))
        prompt_tokens = sum(len(str(m["content"]).split()) for m in body["messages"])
        reply = json.dumps(
            {
                "id": "fake",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "smollm2"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(text.split()),
                    "total_tokens": prompt_tokens + len(text.split()),
                },
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def requests_answered() -> int:
    """How many requests the fake servers of this process answered."""
    return _Handler.requests


def start() -> tuple[ThreadingHTTPServer, str]:
    """A running fake server (a daemon thread) and its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@contextlib.contextmanager
def capitals_server() -> Iterator[str]:
    """The fake's base URL for the ``with`` block."""
    server, url = start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
