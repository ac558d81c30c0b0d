"""A tiny OpenAI-compatible chat server on 127.0.0.1 for the scale-out benchmark.

Every ``POST /v1/chat/completions`` waits a fixed ``delay`` (a model's latency, without the
model) and answers ``positive`` with a usage block. With ``requests_per_minute`` it limits
requests as providers do, with a token bucket (capacity: one second's worth, refilled
continuously) shared by every client, answering 429 with ``Retry-After`` past it.
``GET /stats`` (or :meth:`StubServer.stats`) gives the requests answered and refused.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Bucket:
    """Requests per second with a capacity of one second's worth (what a per-minute limit allows at once)."""

    def __init__(self, requests_per_minute: float) -> None:
        self.rate = requests_per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
            self.at = now
            if self.level < 1.0:
                return False
            self.level -= 1.0
            return True


class StubServer:
    """The server, on a free port of 127.0.0.1, served by daemon threads until :meth:`close`."""

    def __init__(self, delay: float = 0.1, requests_per_minute: float | None = None) -> None:
        self.delay = delay
        self.bucket = _Bucket(requests_per_minute) if requests_per_minute else None
        self.counts = {"answered": 0, "refused_429": 0}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                with server.lock:
                    self._send(200, dict(server.counts))

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if server.bucket is not None and not server.bucket.take():
                    with server.lock:
                        server.counts["refused_429"] += 1
                    self._send(429, {"error": {"message": "rate limit reached"}}, {"Retry-After": "1"})
                    return
                time.sleep(server.delay)
                with server.lock:
                    server.counts["answered"] += 1
                prompt = sum(len(str(m.get("content", ""))) for m in request.get("messages", [])) // 4
                self._send(
                    200,
                    {
                        "id": "stub",
                        "object": "chat.completion",
                        "model": request.get("model", "stub"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "positive"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": prompt, "completion_tokens": 1, "total_tokens": prompt + 1},
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="stub-server", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def stats(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
