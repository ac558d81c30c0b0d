"""LocalServer's lifecycle, offline: a tiny fake server stands in for llama.cpp's (except one test)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from stacktune_llamacpp import LocalServer, LocalServerError, default_model_path, free_port, serve

FAKE_SERVER = str(Path(__file__).with_name("fake_server.py"))


class FakeServer(LocalServer):
    """Runs fake_server.py instead of llama.cpp; ``modes`` are used one per start attempt."""

    def __init__(self, *modes: str, **kwargs: object) -> None:
        super().__init__(None, **kwargs)  # type: ignore[arg-type]
        self.modes = list(modes)
        self.ports: list[int] = []

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def command(self, port: int) -> list[str]:
        self.ports.append(port)
        mode = self.modes.pop(0) if len(self.modes) > 1 else self.modes[0]
        return [sys.executable, FAKE_SERVER, str(port), mode]


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _processes_mentioning(*texts: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if all(text in cmdline.split("\0") for text in texts):
                found.append(int(entry.name))
    return found


def _get_models(base_url: str) -> bytes:
    with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
        return bytes(response.read())


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_command_runs_llama_cpp_server_with_this_python() -> None:
    server = LocalServer(n_ctx=512, n_threads=1)
    command = server.command(4321)
    assert command[:3] == [sys.executable, "-m", "stacktune_llamacpp.openai_server"]
    options = dict(zip(command[3::2], command[4::2]))
    assert options["--model"] == str(default_model_path())
    assert options["--model_alias"] == "smollm2"
    assert options["--host"] == "127.0.0.1"
    assert options["--port"] == "4321"
    assert options["--n_ctx"] == "512"
    assert options["--n_threads"] == options["--n_threads_batch"] == "1"


def test_base_url_needs_a_started_server() -> None:
    server = LocalServer()
    assert not server.is_running()
    with pytest.raises(LocalServerError, match="not been started"):
        _ = server.base_url


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"n_ctx": 0}, "n_ctx"),
        ({"n_threads": 0}, "n_threads"),
        ({"startup_timeout": 0}, "startup_timeout"),
    ],
)
def test_bad_settings_are_named(kwargs: dict[str, int], culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        LocalServer(**kwargs)  # type: ignore[arg-type]


def test_start_serve_and_stop() -> None:
    with FakeServer("ok") as server:
        assert server.is_running()
        assert server.base_url == f"http://127.0.0.1:{server.ports[-1]}/v1"
        assert b"smollm2" in _get_models(server.base_url)
        pid = server.pid
        assert pid is not None
        assert _processes_mentioning(FAKE_SERVER, str(server.ports[-1])) == [pid]
    assert not server.is_running()
    assert not _process_exists(pid)
    with socket.socket() as sock:  # the port is free again
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", server.ports[-1]))


def test_stop_kills_a_server_that_ignores_sigterm() -> None:
    server = FakeServer("ignore-term", stop_timeout=0.3)
    server.start()
    pid = server.pid
    assert pid is not None
    server.stop()
    assert not _process_exists(pid)
    server.stop()  # idempotent


def test_stop_happens_on_exceptions_too() -> None:
    with pytest.raises(KeyError), FakeServer("ok") as server:
        pid = server.pid
        raise KeyError("boom")
    assert pid is not None and not _process_exists(pid)


def test_server_that_dies_gives_its_output() -> None:
    server = FakeServer("crash")
    with pytest.raises(LocalServerError, match=r"(?s)exited with code 3.*Failed to load model from file"):
        server.start()
    assert not server.is_running() and server.pid is None


def test_server_that_never_answers_times_out_and_is_stopped() -> None:
    server = FakeServer("silent", startup_timeout=0.5)
    with pytest.raises(LocalServerError, match=r"(?s)did not answer GET .*/models within 0.5s.*mode silent"):
        server.start()
    assert server.pid is None
    assert _processes_mentioning(FAKE_SERVER, str(server.ports[-1])) == []


def test_a_stolen_free_port_is_retried() -> None:
    server = FakeServer("busy", "ok")
    with server:
        assert len(server.ports) == 2
        assert b"smollm2" in _get_models(server.base_url)


def test_a_requested_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalServerError, match=rf"port {port} on 127.0.0.1 is already in use"):
            FakeServer("ok", port=port).start()


def test_starting_twice_is_refused() -> None:
    with FakeServer("ok") as server, pytest.raises(LocalServerError, match="already running"):
        server.start()


def test_kill_simulates_a_crash() -> None:
    with FakeServer("ok") as server:
        server.kill()
        assert not server.is_running()
        with pytest.raises(OSError):
            _get_models(server.base_url)


def test_bogus_gguf_fails_clearly_and_leaves_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(logs))
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF\x03\x00\x00\x00" + b"not really a model" * 4)
    with pytest.raises(LocalServerError, match=r"(?s)exited with code \d+.*Failed to load model from file"):
        with serve(bogus):
            pytest.fail("a bogus model must not serve")
    assert _processes_mentioning(str(bogus)) == []
    assert list(logs.iterdir()) == []  # the server's log file is gone too


ORPHAN_PARENT = """
import sys, time
from stacktune_llamacpp import LocalServer

class Fake(LocalServer):
    def command(self, port):
        return [sys.executable, sys.argv[1], str(port), "ok"]

server = Fake().start()
print(server.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux-only")
def test_the_server_dies_with_a_killed_parent() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", ORPHAN_PARENT, FAKE_SERVER], stdout=subprocess.PIPE, text=True
    ) as parent:  # closes the pipe and waits on the way out
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            assert _process_exists(child)
        finally:
            parent.kill()
    for _ in range(200):  # the kernel sends SIGTERM at once; allow for a slow, busy machine
        if not _child_alive(child):
            break
        time.sleep(0.05)
    assert not _child_alive(child)


def _child_alive(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
