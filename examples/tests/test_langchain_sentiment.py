"""The langchain_sentiment example as a task: built against a server, tuned from the command line (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stacktune import TaskSetup, load_study
from stacktune.cli import cli
from stacktune_examples.langchain_sentiment.task import INSTRUCTION_KNOB, MAX_TOKENS_KNOB, build
from stacktune_langchain import LangChainAdapter


def test_the_task_builds_the_chain_its_data_and_metric() -> None:
    setup = build(base_url="http://127.0.0.1:9/v1")  # nothing is called while building
    assert isinstance(setup, TaskSetup) and isinstance(setup.target, LangChainAdapter)
    assert len(setup.dataset) == 16
    space = setup.target.extract_variables()
    assert INSTRUCTION_KNOB in space.names and "prompt_style" in space.names
    # the answer length is a knob like the others: the local server honours ChatOpenAI's max_tokens
    assert (space[MAX_TOKENS_KNOB].low, space[MAX_TOKENS_KNOB].high, space[MAX_TOKENS_KNOB].default) == (2, 8, 4)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\] for the langchain_sentiment task"):
        build(colour="blue")


def test_stacktune_optimize_langchain_sentiment_over_http(fake_openai: str, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'langchain.db'}"
    arguments = [
        "optimize",
        "langchain_sentiment",
        "--trials",
        "2",
        "--storage",
        storage,
        "--no-progress",
        "--seed",
        "0",
        "--option",
        f"base_url={fake_openai}",
    ]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    study = load_study("langchain_sentiment", storage=storage)
    assert study.objective_names == ("score", "tokens")
    trials = study.completed_trials()
    assert len(trials) == 2
    assert all(t.evaluation.n_examples == 16 and t.evaluation.n_failures == 0 for t in trials)
    assert all(0.0 <= t.values["score"] <= 1.0 and t.values["tokens"] > 0 for t in trials)  # answered over HTTP
