"""A local OpenAI-compatible server that fails on purpose: the fault harness for adapter authors.

An adapter must survive what real servers do: answer 500, throttle with 429 and
Retry-After, hang, drip a body one byte at a time, send a body that is not JSON, answer
without choices or without usage, drop the connection, echo the API key in an error. Point
the adapter's client at :attr:`FaultServer.url` (``base_url``/``api_base``), choose a
:attr:`~FaultServer.mode`, and check that failures are counted, that no call outlives its
timeout and that the key is stored nowhere::

    def test_my_adapter_counts_failures(fault_server):
        fault_server.mode = "500"
        program = MyProgram(base_url=fault_server.url, api_key="sk-test-123456", timeout=2)
        ...
        assert fault_server.requests == ...  # every attempt reached the server

The ``fault_server`` pytest fixture (registered by this package's pytest plugin) gives a
fresh server per test, stopped afterwards; :func:`refused_url` is an address nothing listens
on. Only the standard library is used (``http.server`` in a thread, port 0).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Every mode and what the server does in it.
MODES: dict[str, str] = {
    "ok": "a normal chat completion (with usage)",
    "500": "HTTP 500 with a JSON error body",
    "429": "HTTP 429 with a Retry-After header (retry_after seconds)",
    "hang": "reads the request and never answers (until the server stops)",
    "drip": "a 200 whose body comes one byte every drip_interval seconds",
    "malformed": "a 200 whose body is not JSON",
    "empty_choices": "a 200 with an empty choices list",
    "close": "closes the connection without answering",
    "no_usage": "a normal completion without the usage field",
    "echo_key": "HTTP 401 whose error body repeats the API key the client sent",
}

#: The tokens an ``ok`` answer reports.
PROMPT_TOKENS = 10
COMPLETION_TOKENS = 2


class FaultServer:
    """An OpenAI-compatible ``/chat/completions`` server on 127.0.0.1 whose answers fail as told.

    ``mode`` is the answer to every request (see :data:`MODES`); :meth:`queue` puts modes to use
    first, one per request (e.g. ``queue("500", "500")`` then ``mode`` again). ``requests``
    counts the requests received, ``headers`` keeps each one's headers (names in lower case). ``reply``
    is the answer's text, or a function of the request's JSON body (a fake model). Any POST path answers, so
    clients that add ``/chat/completions`` to ``url`` (OpenAI's SDK, LiteLLM, httpx) all work.
    """

    def __init__(
        self,
        *,
        mode: str = "ok",
        reply: str | Callable[[dict[str, Any]], str] = "positive",
        retry_after: float = 1.0,
        drip_interval: float = 0.2,
        drip_bytes: int = 400,
    ) -> None:
        self.mode = mode
        self.reply = reply
        self.retry_after = retry_after
        self.drip_interval = drip_interval
        self.drip_bytes = drip_bytes
        self.headers: list[dict[str, str]] = []
        self._queued: deque[str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="stacktune-fault-server", daemon=True)
        self._thread.start()

    @property
    def mode(self) -> str:
        """How the server answers from now on (one of :data:`MODES`)."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        self._mode = _checked(mode)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give a client (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> int:
        """How many requests reached the server so far."""
        with self._lock:
            return len(self.headers)

    def queue(self, *modes: str) -> None:
        """Answer the next requests in these modes, one each, before falling back to :attr:`mode`."""
        checked = [_checked(m) for m in modes]
        with self._lock:
            self._queued.extend(checked)

    def answer(self, request: dict[str, Any]) -> str:
        """The text an answer carries: ``reply``, or ``reply(request)`` when it is a function of the request."""
        return self.reply(request) if callable(self.reply) else self.reply

    def _next_mode(self, headers: dict[str, str]) -> str:
        with self._lock:
            self.headers.append(headers)
            return self._queued.popleft() if self._queued else self._mode

    def stop(self) -> None:
        """Stop answering: hanging and dripping answers end, the port is released."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _checked(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown fault mode {mode!r}; modes: {', '.join(MODES)}")
    return mode


def completion(text: str, model: str, *, usage: bool = True) -> dict[str, Any]:
    """An OpenAI chat completion answering ``text`` (what the ``ok`` mode sends)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        }
    return body


def sent_key(headers: dict[str, str]) -> str:
    """The API key a request carried (``Authorization: Bearer``, ``api-key`` or ``x-api-key``), or ''."""
    lowered = {k.lower(): v for k, v in headers.items()}
    auth = lowered.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return lowered.get("x-api-key") or lowered.get("api-key") or auth


class _FaultHandler(BaseHTTPRequestHandler):
    """Answers as its :class:`FaultServer` says (``fault`` is set on a subclass, one per server)."""

    fault: FaultServer
    # One request per connection: clients keep no socket to a server that is gone when their test ends
    # (LiteLLM and the OpenAI SDK pool connections in process-wide caches).
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters, not a log."""

    def do_GET(self) -> None:
        """``/models`` and the like: an empty list (some clients probe it)."""
        self._json(200, {"object": "list", "data": []})

    def do_POST(self) -> None:
        """Answer a chat completion in the server's current mode."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            self.request_body = json.loads(raw or b"{}")
            model = str(self.request_body.get("model", "fault-model"))
        except (ValueError, AttributeError):
            self.request_body, model = {}, "fault-model"
        headers = {name.lower(): value for name, value in self.headers.items()}
        getattr(self, f"_mode_{self.fault._next_mode(headers)}")(model, headers)

    def _json(self, status: int, body: object, extra: Iterable[tuple[str, str]] = ()) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _mode_ok(self, model: str, headers: dict[str, str]) -> None:
        self._json(200, completion(self.fault.answer(self.request_body), model))

    def _mode_no_usage(self, model: str, headers: dict[str, str]) -> None:
        self._json(200, completion(self.fault.answer(self.request_body), model, usage=False))

    def _mode_empty_choices(self, model: str, headers: dict[str, str]) -> None:
        self._json(200, {**completion(self.fault.answer(self.request_body), model), "choices": []})

    def _mode_500(self, model: str, headers: dict[str, str]) -> None:
        self._json(500, {"error": {"message": "internal server error (fault server)", "type": "server_error"}})

    def _mode_429(self, model: str, headers: dict[str, str]) -> None:
        body = {"error": {"message": "rate limited (fault server)", "type": "rate_limit_error"}}
        self._json(429, body, [("Retry-After", f"{self.fault.retry_after:g}")])

    def _mode_echo_key(self, model: str, headers: dict[str, str]) -> None:
        message = f"Incorrect API key provided: {sent_key(headers)}. Find your key in your account."
        self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})

    def _mode_malformed(self, model: str, headers: dict[str, str]) -> None:
        data = b"<html><body>502 Bad Gateway: upstream sent garbage</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _mode_hang(self, model: str, headers: dict[str, str]) -> None:
        self.fault._stopping.wait()
        self.close_connection = True

    def _mode_close(self, model: str, headers: dict[str, str]) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _mode_drip(self, model: str, headers: dict[str, str]) -> None:
        data = json.dumps(completion(self.fault.answer(self.request_body), model)).encode().ljust(self.fault.drip_bytes)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        try:
            for index in range(len(data)):
                if self.fault._stopping.wait(self.fault.drip_interval):
                    break
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
        except OSError:
            pass  # the client gave up: that is what the test wants to see
        self.close_connection = True


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    return type("FaultHandler", (_FaultHandler,), {"fault": server})


def refused_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


__all__ = ["COMPLETION_TOKENS", "MODES", "PROMPT_TOKENS", "FaultServer", "completion", "refused_url", "sent_key"]
