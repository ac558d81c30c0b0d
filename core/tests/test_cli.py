from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import optuna
import pytest
from click.testing import CliRunner

from stacktune import Categorical, Space, create_study, evaluate_examples
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


# -- as users meet the command line ---------------------------------------------------


def _one_line_error(result: Any) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("storage", "said"),
    [
        ("foo://x", "give an Optuna storage URL such as sqlite:///stacktune.db"),
        ("sqlite:///nope/s.db", "does the directory 'nope' exist?"),
    ],
)
def test_storage_errors_are_one_line_naming_the_url_and_the_fix(runner: CliRunner, storage: str, said: str) -> None:
    line = _one_line_error(runner.invoke(cli, ["optimize", "toy", "--trials", "1", "--storage", storage]))
    assert repr(storage) in line and said in line


def test_a_missing_driver_is_one_line_naming_the_extra(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    storage = "postgresql://postgres@127.0.0.1/test"
    line = _one_line_error(runner.invoke(cli, ["optimize", "toy", "--trials", "1", "--storage", storage]))
    assert repr(storage) in line and "pip install 'stacktune[postgres]'" in line


@pytest.mark.parametrize("command", [["studies"], ["show", "mine"], ["report", "mine"], ["dashboard", "mine"]])
def test_reading_commands_never_create_a_database_for_a_mistyped_path(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(cli, [*command, "--storage", "sqlite:///typo.db"])
    line = _one_line_error(result)
    assert "no database at 'typo.db'" in line and result.exit_code == 2
    assert not Path("typo.db").exists()


def test_task_option_errors_are_one_line(runner: CliRunner) -> None:
    unknown = runner.invoke(cli, ["optimize", "toy", "--option", "exampels=3", "--storage", "sqlite:///s.db"])
    line = _one_line_error(unknown)
    assert "task 'toy' has no option exampels" in line and "examples (" in line and unknown.exit_code == 2
    bad = runner.invoke(cli, ["optimize", "toy", "--option", "examples=many", "--storage", "sqlite:///s.db"])
    assert "examples='many' must be a whole number" in _one_line_error(bad)
    assert "--option 'novalue' is not key=value" in _one_line_error(
        runner.invoke(cli, ["optimize", "toy", "--option", "novalue"])
    )
    assert not Path("s.db").exists()


def test_version_and_help_with_an_example_per_command(runner: CliRunner) -> None:
    import stacktune

    version = runner.invoke(cli, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"stacktune {stacktune.__version__}"
    for name, command in cli.commands.items():
        shown = runner.invoke(cli, [name, "--help"], terminal_width=80)
        assert shown.exit_code == 0, shown.output
        assert "Example: stacktune " in shown.output, f"`stacktune {name} --help` shows no example"
        for parameter in command.params:
            if isinstance(parameter, click.Option) and parameter.name != "help":
                assert parameter.help, f"stacktune {name} {parameter.opts[0]} has no help text"


def test_show_and_studies_print_json_for_scripts(runner: CliRunner) -> None:
    runner.invoke(
        cli,
        ["optimize", "toy", "--trials", "4", "--no-progress", "--study-name", "mine", "--storage", "sqlite:///s.db"],
    )
    shown = json.loads(runner.invoke(cli, ["show", "mine", "--storage", "sqlite:///s.db", "--json"]).output)
    assert shown["study_name"] == "mine" and [o["name"] for o in shown["objectives"]] == ["score", "tokens"]
    assert shown["pareto_front"] and shown["best"] is None  # two objectives: a front, no single best
    assert shown["baseline"]["number"] == 0 and shown["verified"]  # the toy task has a held-out split
    assert set(shown["pareto_front"][0]["readable"]) == set(shown["pareto_front"][0]["configuration"])
    listed = json.loads(runner.invoke(cli, ["studies", "--storage", "sqlite:///s.db", "--json"]).output)
    stored = len(optuna.load_study(study_name="mine", storage="sqlite:///s.db").trials)  # rejected ones included
    assert listed == [
        {
            "study_name": "mine",
            "n_trials": stored,
            "objectives": [{"name": "score", "direction": "maximize"}, {"name": "tokens", "direction": "minimize"}],
        }
    ]


LONG_HINT = "Think about the problem carefully, step by step, before you answer with one single word."


class Hinted:
    """A one-variable program whose long hint text is the right choice (the study picks it)."""

    def __init__(self, hint: str = "Answer.") -> None:
        self.hint = hint

    def extract_variables(self) -> Space:
        choices = Categorical("hint", [LONG_HINT, "Answer."])
        return Space(variables=[choices.model_copy(update={"default": choices.keys[1]})])

    def apply_configuration(self, configuration: Any) -> Hinted:
        valid = self.extract_variables().validate_configuration(configuration)
        return Hinted(self.extract_variables().resolve(valid)["hint"])

    def evaluate(self, dataset: Any, metric: Any, *, on_result: Any = None, max_concurrency: int = 1) -> Any:
        return evaluate_examples(dataset, lambda example: self.hint, metric, on_result=on_result)


def test_tables_fit_80_columns_and_show_chosen_texts_not_keys(runner: CliRunner) -> None:
    study = create_study(study_name="texts", storage="sqlite:///s.db", seed=0)
    study.optimize(Hinted(), [1, 2, 3], lambda example, prediction: prediction == LONG_HINT, n_trials=4)
    assert study.best.configuration["hint"] != LONG_HINT and "#" in study.best.configuration["hint"]  # a hashed key
    shown = runner.invoke(cli, ["show", "texts", "--storage", "sqlite:///s.db"])
    assert shown.exit_code == 0, shown.output
    assert max(len(line) for line in shown.output.splitlines()) <= 80, shown.output
    assert study.best.configuration["hint"] not in shown.output
    assert "hint=Think about the problem" in shown.output and "carefully, step…" in shown.output  # shortened
    assert "one single word." not in shown.output


def test_without_a_terminal_no_progress_reaches_stdout(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "stacktune", "optimize", "toy", "--trials", "2", "--storage", "sqlite:///p.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "2 trials in" in done.stdout
    assert "study toy ━" not in done.stdout and "2/2" not in done.stdout  # the progress line: "study toy ━━━ 2/2"
    assert "study toy ━" not in done.stderr  # and no terminal on stderr either


def test_the_command_line_loads_without_optuna_or_the_runner() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stacktune.cli\n"
        "stacktune.cli.prepare_cli()\n"  # every installed plugin loaded, their commands added
        "heavy = sorted(m for m in ('optuna', 'numpy', 'stacktune.evaluation', 'stacktune.study', 'dspy', "
        "'langchain_core') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_command_lines_constants_are_the_cores() -> None:
    import stacktune
    from stacktune import cli as command_line
    from stacktune.study import DEFAULT_STORAGE

    assert command_line.DEFAULT_STORAGE == DEFAULT_STORAGE
    assert command_line.OBJECTIVE_NAMES == tuple(sorted(stacktune.BUILTIN_OBJECTIVES))
