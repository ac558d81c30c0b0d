"""A stand-in for ``python -m llama_cpp.server``: answers GET /v1/models, or misbehaves on request.

Usage: fake_server.py PORT MODE, MODE one of ok, ignore-term (survives SIGTERM), silent (never
answers), crash (exits at once), busy (claims the address is in use and exits).
"""

from __future__ import annotations

import http.server
import signal
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"object": "list", "data": [{"id": "smollm2"}]}'
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    print(f"fake server starting on {port} in mode {mode}", flush=True)
    if mode == "crash":
        print("Traceback: ValueError: Failed to load model from file", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "busy":
        print("ERROR: [Errno 98] error while attempting to bind: address already in use", file=sys.stderr, flush=True)
        sys.exit(1)
    if mode == "silent":
        time.sleep(600)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
