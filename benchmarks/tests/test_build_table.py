"""The table builder, offline: a fake model stands in for SmolLM2."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import build_table
import pytest
from build_table import TaskGrid, configurations, load_table, run_configuration, write_atomically

from stacktune_prompt import PromptAdapter


class TopicEcho:
    """Answers the topic named in the last user message's headline keyword, else 'politics'."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[Mapping[str, Any]] = []

    def create_chat_completion(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        text = request["messages"][-1]["content"].lower()
        answer = "sports" if any(w in text for w in ("goal", "match", "wins", "champion")) else "politics"
        return {"choices": [{"message": {"content": answer}}], "usage": {"prompt_tokens": 11, "completion_tokens": 1}}


@pytest.fixture
def headlines() -> TaskGrid:
    task = build_table.headlines()
    return TaskGrid(
        name="headlines",
        module=task.module,
        grid={"instructions": [0, 4], "n_demos": [0, 2], "temperature": [0.0], "parser": ["word"]},
        fixed=task.fixed,
        dataset=task.dataset[:6],
        metric=task.metric,
        description="test",
    )


def test_configurations_cover_the_grid_in_a_fixed_order() -> None:
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    configs = configurations(grid)
    assert len(configs) == 6 and configs[0] == {"a": 1, "b": "x"} and configs[1] == {"a": 1, "b": "y"}
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 6


def test_the_headlines_data() -> None:
    task = build_table.headlines()
    assert len(task.dataset) == 40
    labels = [row["label"] for row in task.dataset]
    assert {labels.count(label) for label in set(labels)} == {10}, "dev is balanced: 10 per topic"
    assert task.module.parse_topic("The topic is Sports.") == "sports"
    assert task.module.parse_letter("C") == "food"
    assert task.module.parse_topic("no idea") is None


def test_the_emotions_data() -> None:
    task = build_table.emotions()
    assert len(task.dataset) == 40 and len(task.module.load("train")) == 16
    labels = [row["label"] for row in task.dataset]
    assert {labels.count(label) for label in set(labels)} == {10}, "dev is balanced: 10 per emotion"
    assert len({row["id"] for row in task.module.load()}) == 64
    assert task.module.parse_emotion("The emotion is Fear.") == "fear"
    assert task.module.parse_emotion("I think the writer is furious") == "anger"
    assert task.module.parse_emotion("no idea") is None


@pytest.mark.parametrize("name", sorted(build_table.TASKS))
def test_every_recorded_table_is_complete_for_its_task(name: str) -> None:
    """The committed tables describe exactly their task's grid and examples (so compare.py can trust them)."""
    task = build_table.TASKS[name]()
    table = json.loads((build_table.TABLES / f"{name}.json").read_text(encoding="utf-8"))
    assert table["grid"] == {k: list(v) for k, v in task.grid.items()}
    assert table["examples"] == [row.get("id", i) for i, row in enumerate(task.dataset)]
    recorded = {build_table.config_id(r["configuration"]) for r in table["results"]}
    assert recorded == {build_table.config_id(c) for c in configurations(task.grid)}
    assert all(len(r["scores"]) == len(task.dataset) for r in table["results"])


def test_run_configuration_records_every_example(headlines: TaskGrid) -> None:
    model = TopicEcho()
    adapter = PromptAdapter(headlines.module.make_prompt(model, cache=False))
    record = run_configuration(
        headlines, adapter, {"instructions": 4, "n_demos": 2, "temperature": 0.0, "parser": "word"}
    )
    assert len(record["scores"]) == len(model.requests) == 6
    expected = [
        float(
            ("sports" if any(w in row["text"].lower() for w in ("goal", "match", "wins", "champion")) else "politics")
            == row["label"]
        )
        for row in headlines.dataset
    ]
    assert record["scores"] == expected
    assert record["input_tokens"] == [11] * 6 and record["output_tokens"] == [1] * 6
    first = model.requests[0]["messages"]
    assert first[0]["content"].startswith("You are a helpful assistant.")
    assert len(first) == 1 + 2 * 2 + 1, "system, two demos (user + assistant), the headline"


def test_a_table_of_another_grid_is_refused(
    headlines: TaskGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        build_table,
        "empty_table",
        lambda task: {
            "task": task.name,
            "grid": dict(task.grid),
            "fixed": dict(task.fixed),
            "instructions": {},
            "examples": [r["id"] for r in task.dataset],
            "results": [],
        },
    )
    path = tmp_path / "t.json"
    table = build_table.empty_table(headlines)
    write_atomically(path, {**table, "results": [{"configuration": {"instructions": 0}}]})
    assert load_table(path, headlines)["results"] == [{"configuration": {"instructions": 0}}], "resumes"
    write_atomically(path, {**table, "grid": {"instructions": [0]}})
    with pytest.raises(SystemExit, match="another 'grid'"):
        load_table(path, headlines)


def test_the_trivia_data_and_its_graded_metric() -> None:
    task = build_table.trivia()
    module = task.module
    assert len(task.dataset) == 40 and len(module.load("train")) == 12 and len(module.load("test")) == 6
    assert len({row["id"] for row in module.load()}) == 58
    assert len({row["question"] for row in module.load()}) == 58, "no question asked twice"
    assert all(row["answer"] == row["answers"][0] for row in module.load())
    assert task.metric is module.f1 and task.metric_name == "f1"
    assert module.token_f1("Shakespeare", "William Shakespeare") == pytest.approx(2 / 3)
    assert module.token_f1("The author is William Shakespeare.", "William Shakespeare") == pytest.approx(2 / 3)
    assert module.token_f1("the Pacific", "the Pacific Ocean") == pytest.approx(2 / 3), "articles do not count"
    assert module.token_f1("Paris!", "paris") == 1.0 and module.token_f1("Lyon", "Paris") == 0.0
    assert module.f1({"answers": ["Washington, D.C.", "Washington"]}, "Washington") == 1.0, "the closest reference"
    assert module.f1({"answers": ["Paris"]}, None) == 0.0
    assert module.parse_answer("\n Answer: Mount Everest\nIt is in Nepal.") == "Mount Everest"
    assert module.parse_answer("   ") == ""


class LastWordOfTheAnswer:
    """Answers the last word of the question's first reference ("Shakespeare"), and records each request."""

    name = "fake"

    def __init__(self, answers: Mapping[str, str]) -> None:
        self.answers = answers
        self.requests: list[Mapping[str, Any]] = []

    def create_chat_completion(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        question = request["messages"][-1]["content"].removeprefix("Question: ")
        content = f"Answer: {self.answers[question].split()[-1]}"
        return {"choices": [{"message": {"content": content}}], "usage": {"prompt_tokens": 9, "completion_tokens": 3}}


def test_the_trivia_grid_records_graded_scores_and_sets_max_tokens() -> None:
    task = build_table.trivia()
    small = TaskGrid(
        name="trivia",
        module=task.module,
        grid=task.grid,
        fixed=task.fixed,
        dataset=task.dataset[:8],
        metric=task.metric,
        description="test",
        metric_name="f1",
    )
    model = LastWordOfTheAnswer({row["question"]: row["answer"] for row in task.module.load()})
    adapter = PromptAdapter(task.module.make_prompt(model, cache=False))
    configuration = {"instructions": 1, "n_demos": 3, "temperature": 0.0, "max_tokens": 6}
    record = run_configuration(small, adapter, configuration)
    expected = [task.module.best_f1(row["answer"].split()[-1], row["answers"]) for row in small.dataset]
    assert record["scores"] == pytest.approx(expected)
    assert any(0.0 < s < 1.0 for s in record["scores"]), "partly right answers score between 0 and 1"
    assert all(request["max_tokens"] == 6 for request in model.requests)
    assert len(model.requests[0]["messages"]) == 1 + 2 * 3 + 1, "system, three demos, the question"
