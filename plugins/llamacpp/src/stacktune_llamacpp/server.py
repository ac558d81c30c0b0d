"""``serve()`` / ``LocalServer``: llama-cpp-python's OpenAI-compatible server as a child process.

The server runs ``python -m stacktune_llamacpp.openai_server`` (llama-cpp-python's server plus a
fix for ``max_completion_tokens``) with this interpreter on 127.0.0.1 and a free port; it is ready
once ``GET {base_url}/models`` answers (the model is loaded before that). Its output goes
to an anonymous temporary file (a pipe nobody reads would fill up and block it; an unlinked file
leaves nothing behind even if we are killed); the tail of that log is in every error. Stopping is
SIGTERM, then SIGKILL after a grace period. On Linux the child also gets SIGTERM when the thread that
started it ends (so start it from a long-lived thread, e.g. the main one); servers still running at
interpreter exit are stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

from stacktune_llamacpp.paths import DEFAULT_ALIAS, default_threads, resolve_model_path


class LocalServerError(RuntimeError):
    """The server did not come up (it died or never answered) or was used in the wrong state."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _death_signal_setter() -> Callable[[], None] | None:
    """On Linux, a function for the child (between fork and exec) asking for SIGTERM when its parent dies.

    ``prctl`` is looked up here, in the parent: the child then runs no import and no ``dlopen``,
    which could deadlock after a fork in a threaded program.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def set_death_signal() -> None:  # pragma: no cover - runs in the child
        prctl(pr_set_pdeathsig, sigterm)

    return set_death_signal


_live: weakref.WeakSet[LocalServer] = weakref.WeakSet()


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_live):
        server.stop()


class LocalServer:
    """One llama-cpp-python server process serving a GGUF model under an alias (``smollm2``).

    Use it as a context manager (or call :meth:`start` / :meth:`stop`). ``base_url`` is what an
    OpenAI client wants (``http://127.0.0.1:PORT/v1``); any API key is accepted.
    """

    startup_attempts = 3  # only for a port we chose ourselves and someone else grabbed meanwhile

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        model_alias: str = DEFAULT_ALIAS,
        startup_timeout: float = 120.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {port!r}")
        if n_ctx < 1:
            raise ValueError(f"n_ctx must be a positive number of tokens, got {n_ctx!r}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads!r}")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout!r}")
        self.model_path: Path = resolve_model_path(model_path)
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.model = model_alias
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.is_running() else "stopped"
        return f"LocalServer({self.model!r}, path={str(self.model_path)!r}, {state})"

    # -- state -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, the OpenAI client's ``base_url``."""
        if self.port is None:
            raise LocalServerError("the server has not been started: no base_url yet")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server process's id; None before start and after stop."""
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, max_lines: int = 30) -> str:
        """The last lines the server wrote (stdout and stderr), for error messages."""
        if self._log is None:
            return ""
        fd = self._log.fileno()
        data = os.pread(fd, os.fstat(fd).st_size, 0)  # pread leaves the offset the server writes at alone
        lines = data.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-max_lines:])

    # -- lifecycle -----------------------------------------------------------------------------
    def command(self, port: int) -> list[str]:
        """The exact command line of the server process."""
        generation, batch = default_threads()
        if self.n_threads is not None:
            generation = batch = self.n_threads
        return [
            sys.executable,
            "-m",
            "stacktune_llamacpp.openai_server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model,
            "--host",
            self.host,
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(generation),
            "--n_threads_batch",
            str(batch),
            "--verbose",
            "False",
        ]

    def start(self) -> LocalServer:
        """Start the process and wait until it answers; a clear error with its log if it does not."""
        with self._lock:
            if self.is_running():
                raise LocalServerError(f"the server is already running at {self.base_url}")
            if self.requested_port is not None and not _port_is_free(self.host, self.requested_port):
                raise LocalServerError(
                    f"port {self.requested_port} on {self.host} is already in use; "
                    f"pick another one or leave the port out to get a free one"
                )
            attempts = 1 if self.requested_port is not None else self.startup_attempts
            for attempt in range(1, attempts + 1):
                port = self.requested_port or free_port(self.host)
                try:
                    self._launch(port)
                    self._wait_until_ready()
                    _live.add(self)
                    return self
                except LocalServerError as exc:
                    tail = self.log_tail()
                    self._shutdown()
                    if attempt < attempts and "address already in use" in tail.lower():
                        continue
                    raise LocalServerError(f"{exc}\n--- server output (last lines) ---\n{tail or '(none)'}") from None
                except BaseException:
                    self._shutdown()
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self, port: int) -> None:
        self._log = tempfile.TemporaryFile(prefix="stacktune-llamacpp-", suffix=".log")  # already unlinked
        self.port = port
        self._process = subprocess.Popen(
            self.command(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the server in order
            preexec_fn=_death_signal_setter(),
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = f"{self.base_url}/models"
        delay = 0.05
        while True:
            assert self._process is not None
            code = self._process.poll()
            if code is not None:
                raise LocalServerError(
                    f"the llama.cpp server for {self.model_path} exited with code {code} "
                    f"before answering on {self.base_url}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise LocalServerError(
                    f"the llama.cpp server for {self.model_path} did not answer GET {url} "
                    f"within {self.startup_timeout:g}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``stop_timeout``); safe to call twice."""
        with self._lock:
            self._shutdown()

    def kill(self) -> None:
        """SIGKILL the server without cleanup: simulates a crash (requests fail from now on)."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait()

    def _shutdown(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        _live.discard(self)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def serve(
    model_path: str | os.PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    model_alias: str = DEFAULT_ALIAS,
    startup_timeout: float = 120.0,
) -> Iterator[LocalServer]:
    """Run an OpenAI-compatible server for ``model_path`` (SmolLM2 by default) for the ``with`` block."""
    server = LocalServer(
        model_path,
        host=host,
        port=port,
        n_ctx=n_ctx,
        n_threads=n_threads,
        model_alias=model_alias,
        startup_timeout=startup_timeout,
    )
    with server:
        yield server
