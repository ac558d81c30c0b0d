"""``stacktune local ...``: wiring through the plugin hook and the commands, with a fake server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from stacktune import create_plugin_manager
from stacktune_llamacpp import LocalServerError, cli, default_model_path, plugin


def _group() -> click.Group:
    @click.group()
    def root() -> None:
        """A stand-in for the stacktune command line."""

    plugin.stacktune_add_commands(cli=root)
    return root


def test_the_hook_adds_local_with_serve_and_info() -> None:
    result = CliRunner().invoke(_group(), ["local", "--help"])
    assert result.exit_code == 0, result.output
    assert "serve" in result.output and "info" in result.output


def test_the_installed_entry_point_adds_local() -> None:
    root = click.Group("stacktune")
    create_plugin_manager().hook.stacktune_add_commands(cli=root)
    assert "local" in root.commands
    assert set(root.commands["local"].commands) >= {"serve", "info"}  # type: ignore[attr-defined]


def test_info_prints_the_default_model_and_size() -> None:
    result = CliRunner().invoke(_group(), ["local", "info"])
    assert result.exit_code == 0, result.output
    path = default_model_path()
    assert str(path) in result.output
    assert f"{path.stat().st_size} bytes" in result.output


def test_info_on_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(_group(), ["local", "info", "--model", str(tmp_path / "none.gguf")])
    assert result.exit_code == 1
    assert "none.gguf" in result.output and "does not exist" in result.output


class FakeServer:
    def __init__(self, states: list[bool | type[BaseException]]) -> None:
        self.states = states
        self.base_url = "http://127.0.0.1:5555/v1"
        self.model = "smollm2"

    def is_running(self) -> bool:
        state = self.states.pop(0)
        if isinstance(state, type):
            raise state
        return state

    def log_tail(self) -> str:
        return "Segmentation fault"


def _fake_serve(monkeypatch: pytest.MonkeyPatch, server: FakeServer | Exception) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def fake(model_path: Path, **kwargs: Any) -> Iterator[FakeServer]:
        calls.append({"model_path": model_path, **kwargs})
        if isinstance(server, Exception):
            raise server
        yield server
        calls[-1]["stopped"] = True

    monkeypatch.setattr(cli, "serve", fake)
    monkeypatch.setattr(cli, "POLL_SECONDS", 0.0)
    return calls


def test_serve_prints_url_and_model_and_stops_on_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_serve(monkeypatch, FakeServer([True, True, KeyboardInterrupt]))
    result = CliRunner().invoke(_group(), ["local", "serve", "--port", "5555", "--host", "127.0.0.1"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5555/v1" in result.output and "smollm2" in result.output
    assert "stopping" in result.output
    assert calls == [
        {
            "model_path": default_model_path(),
            "host": "127.0.0.1",
            "port": 5555,
            "n_ctx": 2048,
            "model_alias": "smollm2",
            "stopped": True,
        }
    ]


def test_serve_passes_another_gguf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF-rest")
    calls = _fake_serve(monkeypatch, FakeServer([KeyboardInterrupt]))
    result = CliRunner().invoke(_group(), ["local", "serve", "--model", str(other), "--n-ctx", "512"])
    assert result.exit_code == 0, result.output
    assert calls[0]["model_path"] == other and calls[0]["n_ctx"] == 512 and calls[0]["port"] is None


def test_serve_reports_a_server_that_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_serve(monkeypatch, FakeServer([True, False]))
    result = CliRunner().invoke(_group(), ["local", "serve"])
    assert result.exit_code == 1
    assert "exited unexpectedly" in result.output and "Segmentation fault" in result.output


def test_serve_reports_a_start_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_serve(monkeypatch, LocalServerError("did not answer within 1s"))
    result = CliRunner().invoke(_group(), ["local", "serve"])
    assert result.exit_code == 1 and "did not answer within 1s" in result.output


def test_serve_rejects_a_bad_port() -> None:
    result = CliRunner().invoke(_group(), ["local", "serve", "--port", "70000"])
    assert result.exit_code == 2 and "--port" in result.output


def test_every_local_command_has_an_example_and_help_on_every_option() -> None:
    for name in ("", "info", "serve"):
        shown = CliRunner().invoke(_group(), ["local", *([name] if name else []), "--help"])
        assert shown.exit_code == 0 and "Example: stacktune local" in shown.output, shown.output
    for command in cli.local.commands.values():
        for parameter in command.params:
            assert not isinstance(parameter, click.Option) or parameter.help, f"{command.name} {parameter.name}"
