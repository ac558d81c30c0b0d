"""`stacktune report`, `show --importance` and `dashboard` on a stored study."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stacktune import cli as cli_module
from stacktune.cli import cli, dashboard_invocation


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy study of 10 trials on score and tokens, in a SQLite file: what `make demo` leaves behind."""
    folder = tmp_path_factory.mktemp("stored")
    url = f"sqlite:///{folder / 's.db'}"
    done = CliRunner().invoke(
        cli,
        ["optimize", "toy", "--trials", "10", "--no-progress", "--seed", "1", "--storage", url, "--study-name", "toy"],
    )
    assert done.exit_code == 0, done.output
    return folder / "s.db"


def _url(db: Path) -> str:
    return f"sqlite:///{db}"


def test_report_writes_the_file_and_prints_its_path(stored: Path, tmp_path: Path) -> None:
    out = tmp_path / "toy.html"
    done = CliRunner().invoke(cli, ["report", "toy", "--storage", _url(stored), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert done.output == f"report written to {out.resolve()}\n"
    page = out.read_text(encoding="utf-8")
    assert 'id="chart-front-1"' in page and "stacktune report: toy" in page


def test_report_names_the_file_after_the_study_by_default(
    stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["report", "toy", "--storage", _url(stored)])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "toy-report.html").is_file()


def test_report_of_a_missing_database_or_study_is_one_line(stored: Path, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    done = CliRunner().invoke(cli, ["report", "toy", "--storage", _url(missing)])
    assert done.exit_code == 2 and f"no database at '{missing}'" in done.output
    assert not missing.exists(), "a mistyped path must not create a database"
    done = CliRunner().invoke(cli, ["report", "nope", "--storage", _url(stored)])
    assert done.exit_code == 2 and "no study 'nope'" in done.output and "['toy']" in done.output


def test_report_without_plotly_says_what_to_install(stored: Path, hide_module: Callable[[str], None]) -> None:
    hide_module("plotly")
    done = CliRunner().invoke(cli, ["report", "toy", "--storage", _url(stored)])
    assert done.exit_code == 1
    assert (
        "Error: the report draws its charts with plotly, which is not installed: pip install 'stacktune[report]'"
        in (done.output)
    )


def test_show_importance_prints_each_objective_and_the_evaluator(stored: Path) -> None:
    done = CliRunner().invoke(cli, ["show", "toy", "--storage", _url(stored), "--importance"])
    assert done.exit_code == 0, done.output
    assert "importance for score" in done.output and "importance for tokens" in done.output
    assert "by fANOVA (optuna.importance.FanovaImportanceEvaluator, 64 trees, seed 0), over" in done.output
    assert "left out (set in only some trials): steps" in done.output


def test_dashboard_serves_the_storage_on_localhost(stored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def fake_run(command: list[str], check: bool) -> Any:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(cli_module.subprocess, "run", fake_run)
    done = CliRunner().invoke(cli, ["dashboard", "toy", "--storage", _url(stored), "--port", "8123"])
    assert done.exit_code == 0, done.output
    (command,) = ran
    assert Path(command[0]).name == "optuna-dashboard"
    assert command[1:] == [_url(stored), "--host", "127.0.0.1", "--port", "8123"]
    assert "http://127.0.0.1:8123/dashboard/studies/1" in done.output


def test_dashboard_without_optuna_dashboard_says_what_to_install(
    stored: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli_module.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    done = CliRunner().invoke(cli, ["dashboard", "toy", "--storage", _url(stored)])
    assert done.exit_code == 1
    assert "optuna-dashboard is not installed: pip install 'stacktune[dashboard]'" in done.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_invocation_really_serves_the_study_with_readable_trials(stored: Path) -> None:
    """Starts optuna-dashboard as `stacktune dashboard` would, reads the study's trials, stops it."""
    port = _free_port()
    server = subprocess.Popen(
        dashboard_invocation(_url(stored), port=port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies", server)
        (summary,) = [s for s in studies["study_summaries"] if s["study_name"] == "toy"]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}", server)
        keys = {attr["key"]: attr.get("sortable") for attr in detail["union_user_attrs"]}
        for field in ("calls", "tokens", "cost_usd", "examples_evaluated"):
            assert keys[field] is True, f"{field} is a sortable column"
        trial = detail["trials"][0]
        attrs = {attr["key"]: attr["value"] for attr in trial["user_attrs"]}
        assert attrs["configuration"].startswith("strategy=direct · temperature=0.7 · style=verbose")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    assert server.poll() is not None


def _get_json(url: str, server: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"optuna-dashboard did not answer {url} (exit {server.poll()})") from None
            time.sleep(0.2)


def test_dashboard_help_has_an_example() -> None:
    done = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert "Example: stacktune dashboard demo-sentiment --storage sqlite:///demo.db" in done.output
