"""The sentiment example: its data, its prompt and `stacktune optimize sentiment` (offline).

Moved from adapters/prompt/tests/test_example.py when the example left stacktune-prompt.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from stacktune import TaskSetup, load_study
from stacktune.cli import cli
from stacktune_examples.sentiment import task as example
from stacktune_prompt import FREE, Endpoint, Prompt, PromptAdapter
from stacktune_prompt.testing import KeywordSentimentModel


def test_the_dataset_is_large_balanced_and_split() -> None:
    rows = example.load()
    assert len(rows) >= 120
    assert Counter(r["label"] for r in rows) == {"positive": len(rows) // 2, "negative": len(rows) // 2}
    assert len({r["text"] for r in rows}) == len(rows) and len({r["id"] for r in rows}) == len(rows)
    for split in ("train", "dev", "test"):
        part = example.load(split)
        labels = Counter(r["label"] for r in part)
        assert labels["positive"] == labels["negative"] > 0, split
    assert len(example.load("train")) + len(example.load("dev")) + len(example.load("test")) == len(rows)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("positive", "positive"),
        ("The review is Negative.", "negative"),
        ("It is positive, not negative", "positive"),
        ("I'm glad you liked it", None),
        ("nonpositive", None),
    ],
)
def test_parse_label(text: str, label: str | None) -> None:
    assert example.parse_label(text) == label


def test_the_prompt_exposes_every_knob() -> None:
    prompt = example.make_prompt(KeywordSentimentModel(), cache=False)
    space = PromptAdapter(prompt).extract_variables()
    assert space.names == ("instructions", "n_demos", "demo_order", "temperature", "top_p", "max_tokens", "parser")
    assert len(space["instructions"].keys) == len(example.INSTRUCTIONS)  # type: ignore[union-attr]
    assert space.defaults()["parser"] == "word" and space.defaults()["n_demos"] == 2


def test_build_with_a_base_url_uses_an_endpoint(tmp_path: Path) -> None:
    setup = example.build(base_url="http://127.0.0.1:9/v1", cache_dir=str(tmp_path))
    assert isinstance(setup, TaskSetup) and isinstance(setup.target, Prompt)
    endpoint = setup.target.client
    assert isinstance(endpoint, Endpoint) and endpoint.model == "smollm2" and endpoint.price == FREE
    assert len(setup.dataset) == len(example.load("dev")) and len(setup.holdout) == len(example.load("test"))
    remote = example.build(
        base_url="https://api.example.com/v1", model="gpt-4o-mini", api_key_env="KEY", cache_dir=str(tmp_path)
    ).target.client
    assert remote.price is None and remote.api_key_env == "KEY"
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        example.build(colour="blue")


def test_stacktune_optimize_sentiment_end_to_end_over_http(fake_openai: str, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'demo.db'}"
    arguments = [
        "optimize",
        "sentiment",
        "--trials",
        "3",
        "--objective",
        "score",
        "--objective",
        "latency",
        "--storage",
        storage,
        "--study-name",
        "offline",
        "--no-progress",
        "--seed",
        "3",
        "--option",
        f"base_url={fake_openai}",
        "--option",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert "Pareto front" in result.output and "offline" in result.output
    study = load_study("offline", storage=storage)
    ran = [t for t in study.trials if not t.rejected_by]
    assert len(ran) == 3 and all(t.state == "complete" or t.raced_out for t in ran), "raced on both objectives"
    trials = study.completed_trials()
    assert trials and all(
        t.evaluation and t.evaluation.n_examples == 40 and t.evaluation.n_failures == 0 for t in trials
    )
    assert (tmp_path / "cache" / "responses.sqlite3").is_file()


def test_the_in_process_model_runs_on_one_thread_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STACKTUNE_LOCAL_THREADS", raising=False)
    assert example.build(cache_dir=str(tmp_path)).target.client.n_threads == 1  # creating it loads nothing
    assert example.build(cache_dir=str(tmp_path), threads="2").target.client.n_threads == 2
    monkeypatch.setenv("STACKTUNE_LOCAL_THREADS", "2")
    assert example.build(cache_dir=str(tmp_path)).target.client.n_threads is None  # the variable decides
    with pytest.raises(ValueError, match="threads='many' must be a positive whole number"):
        example.build(threads="many")
