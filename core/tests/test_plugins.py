from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import pluggy
import pytest
from click.testing import CliRunner

import stacktune
from stacktune import NoAdapterFound, Task, TaskSetup, create_plugin_manager, hookimpl, optimizable
from stacktune.plugins import ENTRY_POINT_GROUP, plugin_names, reset_plugin_manager
from stacktune.tasks import available_tasks, find_task
from stacktune.testing import ToyProgram, toy_dataset, toy_metric


class Recipe:
    """A 'framework object' that only a plugin knows how to optimize."""

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature


class RecipePlugin:
    @hookimpl
    def stacktune_optimizable(self, target: Any) -> Any:
        if isinstance(target, Recipe):
            return ToyProgram(temperature=target.temperature)
        return None


class GreedyPlugin:
    @hookimpl
    def stacktune_optimizable(self, target: Any) -> Any:
        return ToyProgram(temperature=0.0)


@pytest.fixture
def no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKTUNE_DISABLE_PLUGIN_AUTOLOAD", "1")


class TestOptimizableHook:
    def test_an_optimizable_is_returned_as_is(self, no_autoload: None) -> None:
        program = ToyProgram()
        assert optimizable(program, manager=create_plugin_manager()) is program

    def test_plugins_wrap_targets_they_know(self, no_autoload: None) -> None:
        manager = create_plugin_manager(plugins=[RecipePlugin()])
        wrapped = optimizable(Recipe(0.3), manager=manager)
        assert isinstance(wrapped, ToyProgram) and wrapped.temperature == 0.3

    def test_first_result_wins(self, no_autoload: None) -> None:
        manager = create_plugin_manager(plugins=[GreedyPlugin(), RecipePlugin()])
        # pluggy calls the last registered first
        assert optimizable(Recipe(0.3), manager=manager).temperature == 0.3  # type: ignore[attr-defined]

    def test_no_adapter_names_the_type_and_the_installed_plugins(self, no_autoload: None) -> None:
        manager = create_plugin_manager(plugins=[RecipePlugin()])
        with pytest.raises(NoAdapterFound, match=r"builtins\.object.*installed plugins: .*RecipePlugin"):
            optimizable(object(), manager=manager)

    def test_a_mapping_is_alternatives_and_a_bad_one_names_the_alternative(self, no_autoload: None) -> None:
        manager = create_plugin_manager(plugins=[RecipePlugin()])
        with pytest.raises(NoAdapterFound, match=r"alternative 'not'.*builtins\.str"):
            optimizable({"not": "a program"}, manager=manager)

    def test_a_plugin_returning_garbage_is_reported(self, no_autoload: None) -> None:
        class Broken:
            @hookimpl
            def stacktune_optimizable(self, target: Any) -> Any:
                return "not an optimizable"

        with pytest.raises(TypeError, match="not an Optimizable"):
            optimizable(Recipe(0.1), manager=create_plugin_manager(plugins=[Broken()]))


class TestTrialFinishedHook:
    def test_observers_see_every_trial(self, no_autoload: None, tmp_path: Path) -> None:
        seen: list[tuple[int, str]] = []

        class Observer:
            @hookimpl
            def stacktune_trial_finished(self, study: Any, result: Any) -> None:
                seen.append((result.number, result.state))

        study = stacktune.create_study(
            storage=f"sqlite:///{tmp_path}/s.db", plugin_manager=create_plugin_manager(plugins=[Observer()])
        )
        study.optimize(ToyProgram(), toy_dataset(4), toy_metric, n_trials=5)
        assert [n for n, _ in seen] == [t.number for t in study.trials]
        assert len([s for _, s in seen if s == "complete"]) == 5


class TestTasksHook:
    def test_tasks_from_plugins_are_found_by_name(self, no_autoload: None) -> None:
        class Tasks:
            @hookimpl
            def stacktune_register_tasks(self) -> Sequence[Task]:
                return [Task("mine", "a test task", lambda **_: TaskSetup(ToyProgram(), toy_dataset(4), toy_metric))]

        manager = create_plugin_manager(plugins=[Tasks()])
        assert set(available_tasks(manager)) == {"toy", "mine"}
        assert find_task("mine", manager).description == "a test task"
        with pytest.raises(LookupError, match="known tasks: mine, toy"):
            find_task("nope", manager)

    def test_tasks_from_a_file(self, no_autoload: None, tmp_path: Path) -> None:
        path = tmp_path / "mytask.py"
        path.write_text(
            textwrap.dedent("""
            from stacktune import Task, TaskSetup
            from stacktune.testing import ToyProgram, toy_dataset, toy_metric
            task = Task("file-task", "from a file", lambda **_: TaskSetup(ToyProgram(), toy_dataset(3), toy_metric))
            not_a_task = 3
        """)
        )
        manager = create_plugin_manager()
        assert find_task(f"{path}:task", manager).name == "file-task"
        with pytest.raises(LookupError, match="not a stacktune Task"):
            find_task(f"{path}:not_a_task", manager)
        with pytest.raises(LookupError, match="does not exist"):
            find_task(f"{tmp_path}/missing.py:task", manager)


class TestAddCommandsHook:
    def test_plugins_add_cli_commands(self, no_autoload: None) -> None:
        class Commands:
            @hookimpl
            def stacktune_add_commands(self, cli: click.Group) -> None:
                @cli.command("hello-test")
                def hello() -> None:
                    click.echo("hello from a plugin")

        from stacktune.cli import prepare_cli

        manager = create_plugin_manager(plugins=[Commands()])
        group = prepare_cli(manager)
        try:
            result = CliRunner().invoke(group, ["hello-test"])
            assert result.exit_code == 0, result.output
            assert "hello from a plugin" in result.output
        finally:
            group.commands.pop("hello-test", None)


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed distribution (a dist-info on sys.path) whose entry point registers a plugin."""
    module = tmp_path / "st_fake_plugin.py"
    module.write_text(
        textwrap.dedent("""
        from stacktune import hookimpl
        from stacktune.testing import ToyProgram

        @hookimpl
        def stacktune_optimizable(target):
            return ToyProgram() if target == "fake-target" else None
    """)
    )
    dist = tmp_path / "st_fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: st-fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nfake = st_fake_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("STACKTUNE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("STACKTUNE_DISABLE_PLUGINS", raising=False)
    yield "fake"
    sys.modules.pop("st_fake_plugin", None)


class TestEntryPoints:
    def test_entry_point_plugins_are_loaded(self, fake_distribution: str) -> None:
        manager = create_plugin_manager()
        assert fake_distribution in plugin_names(manager)
        assert isinstance(optimizable("fake-target", manager=manager), ToyProgram)

    def test_named_plugins_can_be_disabled(self, fake_distribution: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("STACKTUNE_DISABLE_PLUGINS", f"something-else, {fake_distribution}")
        manager = create_plugin_manager()
        assert fake_distribution not in plugin_names(manager)
        assert manager.is_blocked(fake_distribution)

    def test_autoload_can_be_turned_off(self, fake_distribution: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("STACKTUNE_DISABLE_PLUGIN_AUTOLOAD", "1")
        assert fake_distribution not in plugin_names(create_plugin_manager())
        assert fake_distribution in plugin_names(create_plugin_manager(load_entry_points=True))

    def test_nothing_is_loaded_at_import(self) -> None:
        import stacktune.plugins as plugins_module

        reset_plugin_manager()
        assert plugins_module._default_manager is None
        manager = plugins_module.get_plugin_manager()
        assert plugins_module.get_plugin_manager() is manager
        reset_plugin_manager()


class TestValidation:
    def test_check_pending_rejects_misspelled_hooks(self, no_autoload: None) -> None:
        class Typo:
            @hookimpl
            def stacktune_optimisable(self, target: Any) -> None:
                return None

        with pytest.raises(pluggy.PluginValidationError, match="stacktune_optimisable"):
            create_plugin_manager(plugins=[Typo()])

    def test_hook_signatures_are_validated(self, no_autoload: None) -> None:
        class WrongArgs:
            @hookimpl
            def stacktune_trial_finished(self, study: Any, result: Any, extra: Mapping[str, Any]) -> None:
                return None

        with pytest.raises(pluggy.PluginValidationError):
            create_plugin_manager(plugins=[WrongArgs()])
