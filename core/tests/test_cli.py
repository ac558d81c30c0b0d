from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stacktune.cli import cli


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_optimize_shows_the_pareto_front_and_where_it_is_stored(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "optimize",
            "toy",
            "--trials",
            "12",
            "--no-progress",
            "--seed",
            "1",
            "--objective",
            "score",
            "--objective",
            "tokens",
            "--storage",
            "sqlite:///s.db",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output
    assert "score: best" in result.output and "vs worst" in result.output
    assert "sqlite:///s.db" in result.output
    assert Path("s.db").exists()


def test_show_prints_a_stored_study_and_studies_lists_it(runner: CliRunner) -> None:
    runner.invoke(
        cli,
        [
            "optimize",
            "toy",
            "--trials",
            "5",
            "--no-progress",
            "--objective",
            "score",
            "--study-name",
            "mine",
            "--storage",
            "sqlite:///s.db",
        ],
    )
    shown = runner.invoke(cli, ["show", "mine", "--storage", "sqlite:///s.db"])
    assert shown.exit_code == 0, shown.output
    assert "Best configuration" in shown.output and "strategy=" in shown.output
    listed = runner.invoke(cli, ["studies", "--storage", "sqlite:///s.db"])
    assert "mine" in listed.output and "score" in listed.output


def test_show_unknown_study_lists_the_known_ones(runner: CliRunner) -> None:
    runner.invoke(cli, ["optimize", "toy", "--trials", "1", "--no-progress", "--storage", "sqlite:///s.db"])
    result = runner.invoke(cli, ["show", "nope", "--storage", "sqlite:///s.db"])
    assert result.exit_code != 0
    assert "no study 'nope'" in result.output and "toy" in result.output


def test_fresh_starts_over(runner: CliRunner) -> None:
    args = ["optimize", "toy", "--trials", "3", "--no-progress", "--storage", "sqlite:///s.db", "--objective", "score"]
    runner.invoke(cli, args)
    result = runner.invoke(cli, [*args, "--fresh"])
    assert result.exit_code == 0, result.output
    import optuna

    trials = optuna.load_study(study_name="toy", storage="sqlite:///s.db").trials
    assert len([t for t in trials if t.state.name == "COMPLETE"]) == 3


def test_unknown_task_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["optimize", "nope", "--no-progress"])
    assert result.exit_code == 2
    assert "unknown task 'nope'" in result.output and "toy" in result.output


def test_bad_option_syntax(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["optimize", "toy", "--option", "novalue", "--no-progress"])
    assert result.exit_code == 2
    assert "not key=value" in result.output


def test_plugins_command_lists_tasks(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "toy" in result.output


def test_optimize_reports_the_baseline_and_the_held_out_split(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        [
            "optimize",
            "toy",
            "--trials",
            "8",
            "--no-progress",
            "--seed",
            "0",
            "--objective",
            "score",
            "--storage",
            "sqlite:///s.db",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "baseline (trial 0, the program as written): score" in result.output
    assert "held out (40 examples), trial" in result.output  # the toy task's holdout has 40 examples


def test_verify_evaluates_a_stored_study_on_the_tasks_holdout(runner: CliRunner) -> None:
    runner.invoke(
        cli,
        [
            "optimize",
            "toy",
            "--trials",
            "6",
            "--no-progress",
            "--objective",
            "score",
            "--study-name",
            "v",
            "--storage",
            "sqlite:///s.db",
        ],
    )
    result = runner.invoke(cli, ["verify", "v", "--task", "toy", "--top", "2", "--storage", "sqlite:///s.db"])
    assert result.exit_code == 0, result.output
    assert result.output.count("held out (40 examples)") == 2
    missing = runner.invoke(cli, ["verify", "nope", "--task", "toy", "--storage", "sqlite:///s.db"])
    assert missing.exit_code != 0 and "no study 'nope'" in missing.output


def test_optimize_with_workers_passes_its_run_options_to_each_worker() -> None:
    from stacktune.cli import _worker_arguments, optimize_command

    context = optimize_command.make_context(
        "optimize",
        ["toy", "--trials", "30", "--objective", "score", "--objective", "cost", "--option", "a=1", "--option", "b=2"]
        + ["--grace-period", "5", "--shared-state", "redis://h:6379/0", "--workers", "3", "--fresh", "--no-progress"]
        + ["--budget-usd", "2.5", "--seed", "7"],
    )
    arguments = _worker_arguments(context.params, "the-study")
    pairs = list(zip(arguments[::2], arguments[1::2]))
    assert ("--grace-period", "5.0") in pairs and ("--shared-state", "redis://h:6379/0") in pairs
    assert ("--objective", "score") in pairs and ("--objective", "cost") in pairs
    assert ("--option", "a=1") in pairs and ("--option", "b=2") in pairs
    assert ("--trials", "30") in pairs and ("--study-name", "the-study") in pairs and ("--budget-usd", "2.5") in pairs
    assert not {"--workers", "--fresh", "--progress", "--no-progress"} & set(arguments), "the launcher's own"
