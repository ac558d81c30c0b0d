"""The adapter: variables found, configurations applied and rejected, evaluation, export, plugin."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

import stacktune
from stacktune import Categorical, Float, Int, InvalidConfiguration, Space
from stacktune_prompt import Prompt, PromptAdapter, SearchRanges
from stacktune_prompt.plugin import stacktune_optimizable
from stacktune_prompt.testing import KeywordSentimentModel

from .conftest import INSTRUCTIONS, accuracy


def test_every_knob_is_a_variable_with_the_current_value_as_default(
    make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel
) -> None:
    other = KeywordSentimentModel(name="other")
    prompt = make_prompt(
        models={"fake": fake, "other": other},
        model="other",
        n_demos=2,
        demo_order=1,
        temperature=0.3,
        top_p=0.9,
        max_tokens=12,
        parser="sentence",
        instructions=INSTRUCTIONS[1],
    )
    space = PromptAdapter(prompt).extract_variables()
    assert space.names == (
        "instructions",
        "n_demos",
        "demo_order",
        "temperature",
        "top_p",
        "max_tokens",
        "model",
        "parser",
    )
    instructions = space["instructions"]
    assert isinstance(instructions, Categorical)
    assert instructions.resolve(instructions.default) == INSTRUCTIONS[1]
    assert set(instructions.choices.values()) == set(INSTRUCTIONS)
    n_demos = space["n_demos"]
    assert isinstance(n_demos, Int) and (n_demos.low, n_demos.high, n_demos.default) == (0, 4, 2)
    demo_order = space["demo_order"]
    assert isinstance(demo_order, Categorical)
    assert demo_order.resolve(demo_order.default) == 1 and len(demo_order.keys) == 6
    assert demo_order.when == {"n_demos": (1, 2, 3, 4)}
    assert isinstance(space["temperature"], Float) and space["temperature"].default == 0.3
    assert space["top_p"].default == 0.9 and space["max_tokens"].default == 12
    assert space["model"].default == "other" and space["parser"].default == "sentence"
    assert space.defaults()["model"] == "other"


def test_single_choices_and_an_empty_pool_give_no_variable(fake: KeywordSentimentModel) -> None:
    prompt = Prompt(
        instructions="sentiment",
        template="{text}",
        model=fake,
        cache=False,
        ranges=SearchRanges(top_p=None, max_tokens=None),
    )
    assert PromptAdapter(prompt).extract_variables().names == ("temperature",)


def test_max_demos_caps_the_search(make_prompt: Callable[..., Prompt]) -> None:
    space = PromptAdapter(make_prompt(max_demos=2, demo_orders=1)).extract_variables()
    assert space["n_demos"].high == 2  # type: ignore[union-attr]
    assert "demo_order" not in space


def test_ranges_follow_the_catalogue_and_widen_to_hold_the_current_value(make_prompt: Callable[..., Prompt]) -> None:
    space = PromptAdapter(make_prompt(temperature=1.8, max_tokens=4, ranges=SearchRanges())).extract_variables()
    temperature, max_tokens = space["temperature"], space["max_tokens"]
    assert isinstance(temperature, Float) and (temperature.low, temperature.high, temperature.default) == (
        0.0,
        1.8,
        1.8,
    )
    assert isinstance(max_tokens, Int) and (max_tokens.low, max_tokens.high, max_tokens.log) == (4, 4096, True)
    assert space["top_p"].low == 0.1  # type: ignore[union-attr]


def test_a_range_the_user_gives_holds_and_the_default_is_its_nearest_bound(make_prompt: Callable[..., Prompt]) -> None:
    space = PromptAdapter(
        make_prompt(temperature=1.8, ranges=SearchRanges(temperature=(0.0, 1.0), step=0.1))
    ).extract_variables()
    temperature = space["temperature"]
    assert isinstance(temperature, Float) and (temperature.high, temperature.default, temperature.step) == (
        1.0,
        1.0,
        0.1,
    )


def test_space_survives_json(make_prompt: Callable[..., Prompt]) -> None:
    space = PromptAdapter(make_prompt()).extract_variables()
    assert Space.from_json(space.to_json()).names == space.names


def test_apply_returns_a_new_prompt_and_leaves_the_original_alone(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt()
    before = repr(prompt), prompt.messages({"text": "x"})
    adapter = PromptAdapter(prompt)
    space = adapter.extract_variables()
    key = space["instructions"].key_for(INSTRUCTIONS[1])  # type: ignore[union-attr]
    order_key = prompt.demo_order_key(2)
    applied = adapter.apply_configuration(
        {
            "instructions": key,
            "n_demos": 3,
            "demo_order": order_key,
            "temperature": 1,
            "max_tokens": 4.0,
            "parser": "sentence",
        }
    )
    new = applied.to_native()
    assert new is not prompt and adapter.prompt is prompt
    assert new.instructions == INSTRUCTIONS[1] and new.n_demos == 3 and new.demo_order == 2
    assert new.temperature == 1.0 and isinstance(new.temperature, float)
    assert new.max_tokens == 4 and isinstance(new.max_tokens, int)
    assert new.parser == "sentence"
    assert new.instruction_candidates == prompt.instruction_candidates
    assert new.cache is prompt.cache
    assert (repr(prompt), prompt.messages({"text": "x"})) == before
    again = applied.extract_variables().defaults()
    assert again["instructions"] == key and again["demo_order"] == order_key and again["temperature"] == 1.0


def test_partial_configuration_keeps_the_rest(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt(temperature=0.4)
    new = PromptAdapter(prompt).apply_configuration({"max_tokens": 3}).to_native()
    assert (new.temperature, new.max_tokens, new.instructions) == (0.4, 3, prompt.instructions)


@pytest.mark.parametrize(
    ("configuration", "variable", "reason"),
    [
        ({"temprature": 0.1}, "temprature", "unknown variable"),
        ({"temperature": 2.0}, "temperature", "out of range"),
        ({"temperature": "hot"}, "temperature", "wrong type"),
        ({"n_demos": 7}, "n_demos", "out of range"),
        ({"parser": "json"}, "parser", "unknown choice"),
        ({"instructions": "Be nice."}, "instructions", "unknown choice"),
        ({"n_demos": 0, "demo_order": "given"}, "demo_order", "inactive variable"),
    ],
)
def test_invalid_configurations_name_the_variable(
    make_prompt: Callable[..., Prompt], configuration: dict[str, Any], variable: str, reason: str
) -> None:
    with pytest.raises(InvalidConfiguration) as info:
        PromptAdapter(make_prompt()).apply_configuration(configuration)
    assert info.value.variable == variable
    assert reason in str(info.value)


def test_evaluate_scores_every_example_and_sums_usage(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], fake: KeywordSentimentModel
) -> None:
    seen: list[tuple[int, float]] = []
    evaluation = PromptAdapter(make_prompt(n_demos=0, parser="word")).evaluate(
        examples, accuracy, on_result=lambda i, s: seen.append((i, s))
    )
    assert evaluation.score == 1.0 and evaluation.n_examples == len(examples)
    assert sorted(i for i, _ in seen) == list(range(len(examples)))
    usage = evaluation.usage
    assert usage.calls == fake.calls == len(examples)
    assert usage.input_tokens == sum(len(" ".join(m["content"] for m in r["messages"]).split()) for r in fake.requests)
    assert usage.output_tokens == len(examples) and len(usage.latencies) == len(examples)


def test_configuration_changes_the_score(make_prompt: Callable[..., Prompt], examples: list[dict[str, str]]) -> None:
    adapter = PromptAdapter(make_prompt(n_demos=0, parser="word", cache=False))
    key = adapter.extract_variables()["instructions"].key_for(INSTRUCTIONS[1])  # type: ignore[union-attr]
    assert adapter.evaluate(examples, accuracy).score == 1.0
    assert adapter.apply_configuration({"instructions": key}).evaluate(examples, accuracy).score == 0.0
    cut = adapter.apply_configuration({"parser": "sentence", "n_demos": 2, "max_tokens": 2})
    assert cut.evaluate(examples, accuracy).score == 0.0  # "The review" is all it may say


def test_a_failing_example_scores_zero_and_the_rest_run(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]]
) -> None:
    model = KeywordSentimentModel(raise_on="boom")
    data = [*examples[:2], {"text": "boom goes the review", "label": "positive"}, {"nottext": 1}, *examples[2:4]]
    evaluation = PromptAdapter(make_prompt(model=model, n_demos=0)).evaluate(data, accuracy)
    assert evaluation.scores == (1.0, 1.0, 0.0, 0.0, 1.0, 1.0)
    assert [(f.index, f.error_type) for f in evaluation.failures] == [(2, "ValueError"), (3, "KeyError")]
    assert "no field 'text'" in evaluation.failures[1].message
    assert model.calls == 4  # a non-transient error is not retried


def test_concurrent_evaluation_matches_sequential(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]]
) -> None:
    adapter = PromptAdapter(make_prompt(temperature=1.0, cache=False))
    sequential = adapter.evaluate(examples, accuracy)
    concurrent = adapter.evaluate(examples, accuracy, max_concurrency=4)
    assert concurrent.scores == sequential.scores
    assert concurrent.usage.total_tokens == sequential.usage.total_tokens


def test_on_result_exception_stops_new_calls(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], fake: KeywordSentimentModel
) -> None:
    def stop(index: int, score: float) -> None:
        raise RuntimeError("pruned")

    with pytest.raises(RuntimeError, match="pruned"):
        PromptAdapter(make_prompt(cache=False)).evaluate(examples, accuracy, on_result=stop)
    assert fake.calls == 1


def test_plugin_wraps_prompts_only(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt()
    wrapped = stacktune_optimizable(prompt)
    assert isinstance(wrapped, PromptAdapter) and wrapped.prompt is prompt
    assert stacktune_optimizable("not a prompt") is None
    found = stacktune.optimizable(prompt)  # through the installed entry point
    assert isinstance(found, PromptAdapter) and isinstance(found, stacktune.SupportsExport)
    assert found.to_native() is prompt


def test_a_study_finds_the_good_configuration(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], tmp_path: Any
) -> None:
    study = stacktune.create_study("fake", storage=f"sqlite:///{tmp_path / 's.db'}", seed=1)
    start = make_prompt(instructions=INSTRUCTIONS[1], n_demos=0)
    study.optimize(start, examples, accuracy, n_trials=12)
    assert study.best.values["score"] == 1.0
    worst = min(t.values["score"] for t in study.completed_trials())
    assert worst < 1.0
    best = study.best.export(start)
    assert isinstance(best, Prompt) and best.instructions == INSTRUCTIONS[0]
    assert json.loads(json.dumps(study.best.configuration)) == study.best.configuration


def test_adapter_is_thread_safe_with_a_shared_cache(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]]
) -> None:
    adapter = PromptAdapter(make_prompt())
    results: list[float] = []
    threads = [
        threading.Thread(target=lambda: results.append(adapter.evaluate(examples, accuracy, max_concurrency=2).score))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [results[0]] * 4


def test_wraps_only_prompts() -> None:
    with pytest.raises(TypeError, match="wraps a stacktune_prompt.Prompt"):
        PromptAdapter("text")  # type: ignore[arg-type]


def test_a_long_model_name_is_applied_by_its_choice_key(fake: KeywordSentimentModel) -> None:
    long_name = "hf.co/some-organisation/a-rather-long-model-repository-name-GGUF:Q4_K_M-instruct"
    assert len(long_name) > 64  # its choice key is a slug + hash, not the name itself
    other = KeywordSentimentModel(name="other")
    prompt = Prompt(
        instructions="sentiment",
        template="{text}",
        models={"short": fake, long_name: other},
        model="short",
        cache=False,
    )
    adapter = PromptAdapter(prompt)
    key = adapter.extract_variables()["model"].key_for(long_name)  # type: ignore[union-attr]
    assert key != long_name
    applied = adapter.apply_configuration({"model": key}).to_native()
    assert applied.model == long_name and applied.client is other
