"""The pytest11 plugin: its fixtures exist in every session and start nothing unless requested."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import os
import sys
from pathlib import Path


def children():
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.append(stat.parent.name)
    return found

def test_plugin_is_loaded_and_idle(request):
    assert request.config.pluginmanager.has_plugin("stacktune_llamacpp")
    for name in ("local_server", "local_model", "local_model_path"):
        assert request._fixturemanager.getfixturedefs(name, request.node), name
    assert "llama_cpp" not in sys.modules
    assert children() == []


def test_probe_sees_children():  # the check above can fail
    import subprocess
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            assert children() == [str(child.pid)]
        finally:
            child.kill()
"""


def test_fixtures_are_registered_through_the_entry_point(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("stacktune_llamacpp")
    assert plugin is not None and plugin.__name__ == "stacktune_llamacpp.pytest_plugin"


def test_a_session_that_requests_no_fixture_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
