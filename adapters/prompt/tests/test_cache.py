"""The prompt adapter on the core's response cache: hits counted, nothing paid twice, keyed by every parameter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacktune_prompt import FileCache, Prompt, PromptAdapter, ResponseCache
from stacktune_prompt._cache import request_key
from stacktune_prompt.testing import KeywordSentimentModel

from .conftest import accuracy


def test_a_repeated_configuration_costs_zero_new_calls(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], fake: KeywordSentimentModel
) -> None:
    adapter = PromptAdapter(make_prompt())
    first = adapter.evaluate(examples, accuracy)
    assert fake.calls == len(examples) and first.usage.cache_hits == 0 and first.usage.spent_calls == len(examples)
    again = adapter.apply_configuration({"temperature": 0.0}).evaluate(examples, accuracy)
    assert fake.calls == len(examples)  # no new call
    assert again.scores == first.scores
    usage = again.usage
    assert usage.cache_hits == usage.calls == len(examples)
    assert usage.cached_tokens == usage.total_tokens == first.usage.total_tokens
    assert usage.spent_calls == 0 and usage.spent_tokens == 0
    assert usage.latencies == first.usage.latencies  # the recorded latencies


def test_cached_cost_is_reported_and_not_spent(
    fake: KeywordSentimentModel, cache_dir: Path, examples: list[dict[str, str]]
) -> None:
    fake.price = __import__("stacktune_prompt").Price(1e6, 1e6)  # type: ignore[attr-defined]
    prompt = Prompt(instructions="sentiment", template="{text}", model=fake, cache=cache_dir)
    first = PromptAdapter(prompt).evaluate(examples, accuracy).usage
    second = PromptAdapter(prompt).evaluate(examples, accuracy).usage
    assert first.cost_usd == pytest.approx(first.total_tokens) and first.cached_cost_usd == 0
    assert second.cost_usd == pytest.approx(first.cost_usd) and second.cached_cost_usd == pytest.approx(first.cost_usd)
    assert second.spent_cost_usd == pytest.approx(0.0)


def test_the_cache_persists_across_instances(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], cache_dir: Path
) -> None:
    PromptAdapter(make_prompt()).evaluate(examples, accuracy)
    other_model = KeywordSentimentModel()  # same identity, fresh object, fresh ResponseCache on the same directory
    evaluation = PromptAdapter(make_prompt(model=other_model, cache=str(cache_dir))).evaluate(examples, accuracy)
    assert other_model.calls == 0 and evaluation.usage.cache_hits == len(examples)
    assert (cache_dir / "responses.sqlite3").is_file()
    assert len(FileCache(cache_dir)) == len(examples)


@pytest.mark.parametrize(
    "changes",
    [
        {"temperature": 0.5},
        {"top_p": 0.9},
        {"max_tokens": 15},
        {"seed": 1},
        {"seed": None},
        {"stop": ["\n"]},
        {"n_demos": 2},
        {"demo_order": 1},
        {"parser": "sentence"},
        {"instructions": "You are a helpful assistant."},
    ],
)
def test_every_parameter_changes_the_key(
    make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel, changes: dict[str, Any]
) -> None:
    prompt = make_prompt()
    prompt.reply({"text": "good"})
    dataclasses.replace(prompt, **changes).reply({"text": "good"})
    assert fake.calls == 2


def test_the_model_identity_is_part_of_the_key(make_prompt: Callable[..., Prompt]) -> None:
    first, second = KeywordSentimentModel(name="a"), KeywordSentimentModel(name="b")
    make_prompt(model=first).reply({"text": "good"})
    make_prompt(model=second).reply({"text": "good"})
    assert (first.calls, second.calls) == (1, 1)


def test_the_old_cache_key_still_works_and_says_it_moved() -> None:
    import stacktune_prompt

    request = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.0, "seed": 0}
    with pytest.warns(DeprecationWarning, match="stacktune.cache.cache_key"):
        old = stacktune_prompt.cache_key("m", request)
    assert old == request_key("m", request) == request_key("m", dict(reversed(list(request.items()))))
    assert request_key("m", request) != request_key("m", {**request, "temperature": 0.1})
    assert request_key("m", request) != request_key("n", request)


def test_the_api_key_is_not_part_of_the_key() -> None:
    request = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.0}
    assert request_key("m", {**request, "api_key": "sk-1"}) == request_key("m", {**request, "api_key": "sk-2"})


def test_the_cache_can_be_disabled(
    make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel, cache_dir: Path
) -> None:
    prompt = make_prompt(cache=False)
    assert prompt.cache is None
    prompt.reply({"text": "good"})
    prompt.reply({"text": "good"})
    assert fake.calls == 2 and not cache_dir.exists()


def test_default_cache_directory_is_in_the_working_directory(
    make_prompt: Callable[..., Prompt], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    prompt = make_prompt(cache=True)
    assert prompt.cache is True  # the study's cache in a trial, else the file cache
    cache = prompt.response_cache
    assert isinstance(cache, FileCache) and cache.directory == tmp_path / ".stacktune-cache"
    assert not (tmp_path / ".stacktune-cache").exists()  # opened on first use only
    prompt.reply({"text": "good"})
    assert (tmp_path / ".stacktune-cache" / "responses.sqlite3").is_file()


def test_bad_cache_argument_is_explained(make_prompt: Callable[..., Prompt]) -> None:
    with pytest.raises(TypeError, match="cache must be"):
        make_prompt(cache=42)


def test_a_cache_object_made_the_old_way_still_works(
    make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel, tmp_path: Path
) -> None:
    with pytest.warns(DeprecationWarning, match="FileCache"):
        old = ResponseCache(tmp_path / "old")  # type: ignore[abstract]
    make_prompt(cache=old).reply({"text": "good"})
    make_prompt(cache=FileCache(tmp_path / "old")).reply({"text": "good"})
    assert fake.calls == 1
