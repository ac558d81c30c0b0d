"""The stacktune-examples distribution registers the example tasks through its entry point."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from stacktune import Task, create_plugin_manager
from stacktune.cli import cli
from stacktune.tasks import available_tasks
from stacktune_examples import plugin


def test_the_entry_point_registers_every_example_task() -> None:
    manager = create_plugin_manager()
    distributions = {dist.project_name for _, dist in manager.list_plugin_distinfo()}
    assert "stacktune-examples" in distributions
    tasks = available_tasks(manager)
    assert {"sentiment", "dspy_qa", "langchain_sentiment", "cross_framework"} <= set(tasks)
    assert all(isinstance(tasks[name], Task) for name in plugin.EXAMPLES)
    assert tasks["sentiment"].objectives == ("score", "latency")
    assert tasks["dspy_qa"].objectives == tasks["langchain_sentiment"].objectives == ("score", "tokens")


def test_stacktune_plugins_lists_the_example_tasks_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "examples" in result.output and "stacktune-examples" in result.output
    for name in plugin.EXAMPLES:
        assert f"{name} (" in result.output


def test_a_broken_example_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(plugin, "EXAMPLES", ("no_such_example", "sentiment"))
    with caplog.at_level(logging.WARNING, logger="stacktune.examples"):
        tasks = plugin.stacktune_register_tasks()
    assert [task.name for task in tasks] == ["sentiment"]
    assert "stacktune_examples.no_such_example.task could not be loaded: ModuleNotFoundError" in caplog.text
