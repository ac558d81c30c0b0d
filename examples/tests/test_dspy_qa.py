"""The dspy_qa example runs end to end offline (a scripted LM), as a script and as a task.

The script test moved here from adapters/dspy/tests/test_example.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stacktune import TaskSetup, load_study
from stacktune.cli import cli
from stacktune_dspy import DSPyAdapter
from stacktune_examples.dspy_qa import run
from stacktune_examples.dspy_qa.task import build


def test_example_runs_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run.main(["--offline", "--trials", "3", "--concurrency", "2", "--out", str(tmp_path / "best.json")])
    out = capsys.readouterr().out
    for name in (
        "adapter",
        "lm",
        "answer.module",
        "answer.predict.instructions",
        "answer.predict.reasoning",
        "answer.predict.demos",
        "answer.predict.n_demos",
        "answer.predict.demo_order",
        "answer.predict.temperature",
        "answer.predict.max_tokens",
        "answer.predict.top_p",
    ):
        assert f"  {name} " in out
    assert "11 variables on CapitalQA" in out and "as written: accuracy 1.00" in out
    assert (tmp_path / "best.json").exists() and (tmp_path / "best.stacktune.json").exists()


def test_the_task_builds_the_program_its_data_and_metric_offline() -> None:
    setup = build(offline="true")
    assert isinstance(setup, TaskSetup) and isinstance(setup.target, DSPyAdapter)
    assert len(setup.dataset) == 10 and not setup.holdout
    assert len(setup.target.extract_variables()) == 11
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\] for the dspy_qa task"):
        build(colour="blue")
    with pytest.raises(ValueError, match="option offline='maybe' must be true or false"):
        build(offline="maybe")


def test_stacktune_optimize_dspy_qa_offline(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'dspy.db'}"
    arguments = [
        "optimize",
        "dspy_qa",
        "--trials",
        "2",
        "--storage",
        storage,
        "--no-progress",
        "--seed",
        "0",
        "--option",
        "offline=true",
    ]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    study = load_study("dspy_qa", storage=storage)
    assert study.objective_names == ("score", "tokens")
    trials = study.completed_trials()
    assert len(trials) == 2 and all(t.evaluation.n_examples == 10 for t in trials)
