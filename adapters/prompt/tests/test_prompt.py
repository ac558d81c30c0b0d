"""The Prompt program: validation, rendering, demos, replies and usage."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from stacktune import UsageMeter, metering
from stacktune_prompt import FREE, OutputFormat, Price, Prompt, PromptAdapter, template_fields
from stacktune_prompt.testing import KeywordSentimentModel

from .conftest import accuracy


def test_template_fields_are_named_and_deduplicated() -> None:
    assert template_fields("{a} and {b.x} and {a} and {c[0]}") == ("a", "b", "c")


def test_positional_template_field_is_rejected(fake: KeywordSentimentModel) -> None:
    with pytest.raises(ValueError, match="positional field"):
        Prompt(instructions="x", template="Review: {}", model=fake, cache=False)


def test_demo_missing_a_template_field_names_it(fake: KeywordSentimentModel) -> None:
    with pytest.raises(KeyError, match=r"demo #1 has no field 'text'.*it has \['label', 'txt'\]"):
        Prompt(
            instructions="x",
            template="{text}",
            model=fake,
            answer="{label}",
            cache=False,
            demos=[{"text": "a", "label": "positive"}, {"txt": "b", "label": "negative"}],
        )


def test_demo_missing_an_answer_field_names_the_parser(fake: KeywordSentimentModel) -> None:
    with pytest.raises(KeyError, match="demo #0 has no field 'label'"):
        Prompt(
            instructions="x",
            template="{text}",
            model=fake,
            cache=False,
            demos=[{"text": "a"}],
            parsers={"p": OutputFormat(str.strip, answer="{label}")},
        )


def test_example_missing_a_field_fails_clearly(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt()
    with pytest.raises(KeyError, match=r"example #1 has no field 'text'.*it has \['body'\]"):
        prompt.check_examples([{"text": "ok"}, {"body": "no text"}])
    with pytest.raises(TypeError, match="must be a mapping"):
        prompt.check_examples(["just a string"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_demos": 5}, "n_demos=5 is outside 0..4"),
        ({"max_demos": 9}, "max_demos=9 is outside 0..4"),
        ({"demo_order": 6}, "demo_order=6 must be in 0..5"),
        ({"temperature": -0.1}, "temperature=-0.1"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"max_tokens": 0}, "max_tokens=0"),
        ({"model": "nope"}, "model 'nope' is not one of the models"),
        ({"parser": "nope"}, "parser 'nope' is not one of the parsers"),
    ],
)
def test_bad_settings_are_rejected_with_the_culprit(
    make_prompt: Callable[..., Prompt], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make_prompt(**changes)


def test_model_must_answer_chat_completions() -> None:
    with pytest.raises(TypeError, match="create_chat_completion"):
        Prompt(instructions="x", template="{text}", model=object(), cache=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"models\['bad'\] must have create_chat_completion.*got str"):
        Prompt(instructions="x", template="{text}", models={"bad": "gpt-4o"}, cache=False)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="needs a model"):
        Prompt(instructions="x", template="{text}", cache=False)


def test_messages_put_demos_as_turns_in_the_format_of_the_parser(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt(n_demos=2, parser="sentence")
    messages = prompt.messages({"text": "so good"})
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == "Classify the sentiment of the review."
    assert messages[1]["content"] == "Review: A great film, I loved it"
    assert messages[2]["content"] == "The review is positive."
    assert messages[-1]["content"] == "Review: so good"
    word = dataclasses.replace(prompt, parser="word").messages({"text": "so good"})
    assert word[0]["content"].endswith("Answer positive or negative.")
    assert word[2]["content"] == "positive"


def test_demo_orderings_are_stable_permutations(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt()
    assert prompt.demo_ordering(0) == (0, 1, 2, 3)
    assert sorted(prompt.demo_ordering(3)) == [0, 1, 2, 3]
    assert prompt.demo_ordering(3) == make_prompt().demo_ordering(3)
    assert len({prompt.demo_ordering(k) for k in range(6)}) > 2
    shuffled = dataclasses.replace(prompt, n_demos=2, demo_order=3)
    order = prompt.demo_ordering(3)
    assert shuffled.selected_demos == (prompt.demos[order[0]], prompt.demos[order[1]])


def test_demo_order_key_changes_with_the_pool(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt()
    other = make_prompt(demos=[{"text": "changed", "label": "positive"}], n_demos=0)
    assert prompt.demo_order_key(1) == make_prompt().demo_order_key(1)
    assert prompt.demo_order_key(1) != other.demo_order_key(1)
    assert prompt.demo_order_key(0).startswith("given@")


def test_prompt_is_frozen_and_its_demos_are_read_only(make_prompt: Callable[..., Prompt]) -> None:
    demos = [{"text": "A great film", "label": "positive"}]
    prompt = make_prompt(demos=demos)
    demos[0]["text"] = "mutated afterwards"
    assert prompt.demos[0]["text"] == "A great film"
    with pytest.raises(dataclasses.FrozenInstanceError):
        prompt.temperature = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        prompt.demos[0]["text"] = "x"  # type: ignore[index]


def test_reply_parses_and_reports_usage(make_prompt: Callable[..., Prompt], fake: KeywordSentimentModel) -> None:
    reply = make_prompt(n_demos=0, parser="word").reply({"text": "I loved it"})
    assert reply.prediction == "positive"
    assert reply.text == "positive"
    assert not reply.cached
    assert reply.usage.calls == 1 and reply.usage.output_tokens == 1
    assert reply.usage.input_tokens == len(
        "Classify the sentiment of the review. Answer positive or negative.".split()
    ) + len("Review: I loved it".split())
    assert reply.usage.cost_usd == 0.0 and reply.usage.unpriced_calls == 0  # in-process: free
    assert len(reply.usage.latencies) == 1
    assert fake.requests[-1]["seed"] == 0


def test_a_parser_error_keeps_the_usage(make_prompt: Callable[..., Prompt]) -> None:
    def strict(text: str) -> str:
        raise ValueError(f"cannot read {text!r}")

    prompt = make_prompt(parsers={"strict": strict}, demos=[], n_demos=0, cache=False)
    meter = UsageMeter()
    with metering(meter), pytest.raises(ValueError, match="cannot read"):
        prompt.reply({"text": "great"})
    assert meter.total.calls == 1 and meter.total.input_tokens > 0, "recorded before the parser ran"
    evaluation = PromptAdapter(prompt).evaluate([{"text": "great"}], lambda example, prediction: 1.0)
    assert evaluation.n_failures == 1 and evaluation.usage.calls == 1 and evaluation.usage.input_tokens > 0


def test_in_process_client_with_a_price_is_charged(make_prompt: Callable[..., Prompt]) -> None:
    class Paid(KeywordSentimentModel):
        price = Price(1_000_000.0, 0.0)  # one dollar per input token

    reply = make_prompt(model=Paid(), n_demos=0, cache=False).reply({"text": "good"})
    assert reply.usage.cost_usd == pytest.approx(reply.usage.input_tokens)
    assert FREE.cost(10, 10) == 0.0


def test_several_models_and_a_name(fake: KeywordSentimentModel) -> None:
    other = KeywordSentimentModel(name="other")
    prompt = Prompt(instructions="sentiment", template="{text}", models={"a": fake, "b": other}, model="b", cache=False)
    assert prompt.client is other
    assert dataclasses.replace(prompt, model="a").client is fake
    single = Prompt(instructions="sentiment", template="{text}", model=fake, cache=False)
    assert list(single.models) == ["keyword-fake"] and single.model == "keyword-fake"


def test_call_returns_the_prediction_and_repr_is_short(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt(n_demos=0, parser="word")
    assert prompt({"text": "awful and boring"}) == "negative"
    assert accuracy({"label": "negative"}, prompt({"text": "awful"}))
    text = repr(prompt)
    assert text.startswith("Prompt(model='keyword-fake', parser='word'") and "Review" not in text


def test_messages_are_fresh_for_every_example(make_prompt: Callable[..., Prompt]) -> None:
    prompt = make_prompt(n_demos=2, parser="sentence")
    first = prompt.messages({"text": "one"})
    first[0]["content"] = "tampered"
    first.append({"role": "user", "content": "extra"})
    second = prompt.messages({"text": "two"})
    assert second[0]["content"] == "Classify the sentiment of the review."
    assert len(second) == 6 and second[-1]["content"] == "Review: two"
    assert second[1:-1] == prompt.messages({"text": "one"})[1:-1]  # the same demos for every example


def test_max_demos_beyond_the_pool_is_named_first(make_prompt: Callable[..., Prompt]) -> None:
    with pytest.raises(ValueError, match=r"max_demos=9 is outside 0\.\.4"):
        make_prompt(max_demos=9, n_demos=10)  # not "n_demos=10 is outside 0..9": the cap itself is wrong
