"""Proposals for a Prompt: its instruction site, candidates in its space, ChatProposerLM on an endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest

from stacktune import (
    Budget,
    InvalidConfiguration,
    Price,
    Proposer,
    Usage,
    UsageMeter,
    create_study,
    load_study,
    metering,
)
from stacktune.testing import ScriptedLM
from stacktune_prompt import ChatProposerLM, Endpoint, Prompt, PromptAdapter, RetryPolicy

from .conftest import accuracy

optuna.logging.set_verbosity(optuna.logging.WARNING)

POOR = "You are a helpful assistant."
PROPOSED = [
    "Classify the sentiment of the review: positive or negative.",
    "Instruction: Decide the sentiment of this review.",
    "Read the review and answer with its sentiment.",
]


def poor_prompt(make_prompt: Callable[..., Prompt]) -> Prompt:
    """The fake model answers the sentiment only when the system text mentions it: this one does not."""
    return make_prompt(instructions=POOR, instruction_candidates=(), demos=(), n_demos=0)


def test_the_system_text_is_its_instruction_site(make_prompt: Callable[..., Prompt]) -> None:
    (site,) = PromptAdapter(make_prompt(parser="word")).instruction_sites()
    assert site.name == "instructions"
    assert site.current == "Classify the sentiment of the review."
    assert site.inputs == ("text",)
    assert site.outputs == ("label",)  # from the answer template "{label}"
    assert "'Review: {text}'" in site.role and "'Answer positive or negative.'" in site.role


def test_candidates_join_the_instructions_knob(make_prompt: Callable[..., Prompt]) -> None:
    adapter = PromptAdapter(poor_prompt(make_prompt))
    assert "instructions" not in adapter.extract_variables()  # one text: no knob yet
    proposed = adapter.with_instruction_candidates({"instructions": PROPOSED[:2]})
    variable = proposed.extract_variables()["instructions"]
    assert list(variable.choices.values()) == [POOR, *PROPOSED[:2]]
    assert variable.resolve(variable.default) == POOR  # the current text stays, as the default
    key = variable.key_for(PROPOSED[0])
    assert proposed.apply_configuration({"instructions": key}).prompt.instructions == PROPOSED[0]
    assert adapter.prompt.instruction_candidates == (POOR,)  # the original is untouched


def test_unknown_sites_and_empty_texts_are_named(make_prompt: Callable[..., Prompt]) -> None:
    adapter = PromptAdapter(poor_prompt(make_prompt))
    with pytest.raises(InvalidConfiguration, match="'template': unknown site"):
        adapter.with_instruction_candidates({"template": ["x"]})
    with pytest.raises(InvalidConfiguration, match="candidate #1 is no text"):
        adapter.with_instruction_candidates({"instructions": ["fine", "  "]})


def test_a_study_proposes_stores_and_reuses(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    lm = ScriptedLM(PROPOSED, usage=Usage(calls=1, input_tokens=300, output_tokens=20, cost_usd=0.01))
    study = create_study(study_name="poor", storage=storage, seed=0)
    prompt = poor_prompt(make_prompt)
    study.optimize(prompt, examples, accuracy, n_trials=10, propose=Proposer(lm=lm, n=3))
    assert lm.calls == 3
    assert study.proposals is not None
    assert study.proposals.candidates == {
        "instructions": [PROPOSED[0], "Decide the sentiment of this review.", PROPOSED[2]]
    }
    assert study.baseline is not None and study.baseline.values["score"] < 1.0
    assert study.best.values["score"] == 1.0  # a proposed text is what makes the fake answer right
    assert "sentiment" in str(study.best.export(prompt).instructions)
    again = ScriptedLM(["never used"], cycle=True)
    load_study("poor", storage=storage).optimize(
        prompt, examples, accuracy, n_trials=2, propose=Proposer(lm=again, n=3)
    )
    assert again.calls == 0


def ok(content: str, prompt_tokens: int = 400, completion_tokens: int = 25) -> httpx.Response:
    body = {
        "choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }
    return httpx.Response(200, json=body)


def test_chat_proposer_lm_asks_an_endpoint_and_records_what_it_cost() -> None:
    requests: list[dict[str, Any]] = []

    def server(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        return ok(f"Judge the sentiment, attempt {len(requests)}.")

    endpoint = Endpoint(
        "http://llm.test/v1", "proposer-model", transport=httpx.MockTransport(server), price=Price(1.0, 2.0)
    )
    lm = ChatProposerLM(endpoint, temperature=0.9, retry=RetryPolicy(attempts=1))
    meter = UsageMeter()
    with metering(meter):
        assert lm("Write an instruction.") == "Judge the sentiment, attempt 1."
    assert requests[0]["model"] == "proposer-model" and requests[0]["temperature"] == 0.9
    assert requests[0]["messages"][-1] == {"role": "user", "content": "Write an instruction."}
    assert meter.total.calls == 1 and meter.total.input_tokens == 400 and meter.total.output_tokens == 25
    assert meter.total.cost_usd == pytest.approx((400 * 1.0 + 25 * 2.0) / 1e6)
    assert lm.name == "proposer-model"
    assert lm.call_cost(400, 25) == pytest.approx(meter.total.cost_usd), "what study.estimate prices a call at"
    unknown = ChatProposerLM(Endpoint("http://llm.test/v1", "no-such-model-anywhere"), retry=RetryPolicy(attempts=1))
    assert unknown.call_cost(400, 25) is None, "an unknown price is None, never 0"


def test_the_endpoint_proposers_cost_is_the_studys(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]]
) -> None:
    calls: list[int] = []

    def server(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return ok(f"Classify the sentiment of the review, version {len(calls)}.")

    endpoint = Endpoint("http://llm.test/v1", "p", transport=httpx.MockTransport(server), price=Price(10.0, 10.0))
    study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
    lm = ChatProposerLM(endpoint, retry=RetryPolicy(attempts=1))
    # 2 proposals at (400 + 25) tokens * 10 USD / Mtok each = 0.0085 USD: the budget is gone before any trial
    study.optimize(
        poor_prompt(make_prompt), examples, accuracy, n_trials=3, budget=Budget(usd=0.008), propose=Proposer(lm=lm, n=2)
    )
    assert len(calls) == 2
    assert study.spent.usd == pytest.approx(0.0085)
    assert study.proposals is not None and study.proposals.usage.cost_usd == pytest.approx(0.0085)
    assert not study.trials


@pytest.mark.integration
def test_the_local_model_proposes_for_a_study_on_itself(local_server: Any, tmp_path: Path) -> None:
    """SmolLM2 writes weak instructions; what must hold is the mechanism: real calls, tokens, storage, spend."""
    from stacktune import FREE

    endpoint = Endpoint(local_server.base_url, local_server.model, price=FREE, timeout=120)
    prompt = Prompt(
        instructions="Answer.",
        template="Review: {text}\nIs this review positive or negative?",
        model=endpoint,
        max_tokens=4,
        cache=tmp_path / "cache",
    )
    data = [
        {"text": "I loved it, wonderful.", "label": "positive"},
        {"text": "Awful, it broke at once.", "label": "negative"},
        {"text": "Great value, works well.", "label": "positive"},
    ]

    def says_label(example: dict[str, str], prediction: object) -> bool:
        return example["label"] in str(prediction).lower()

    study = create_study(study_name="local", storage=f"sqlite:///{tmp_path}/s.db", seed=0)
    lm = ChatProposerLM(endpoint, max_tokens=60)
    study.optimize(prompt, data, says_label, n_trials=3, propose=Proposer(lm=lm, n=2, max_calls=3))
    proposals = study.proposals
    assert proposals is not None and proposals.proposer["lm"] == local_server.model
    assert 1 <= proposals.usage.calls <= 3
    assert proposals.usage.input_tokens > 100  # the grounded request: site, examples, tip
    assert proposals.usage.output_tokens > 0
    trial_calls = sum(t.spent.spent_calls for t in study.trials if t.spent is not None)
    assert study.spent.calls == trial_calls + proposals.usage.calls
    stored = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
    if proposals.candidates:  # what SmolLM2 wrote may all be unusable; when not, it is a choice
        assert len(stored["instructions"]["keys"]) == 1 + len(proposals.candidates["instructions"])


def test_bootstrapped_demos_join_the_pool(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, str]], fake: Any, tmp_path: Path
) -> None:
    from stacktune import Bootstrap

    prompt = make_prompt(demos=(), n_demos=0, instruction_candidates=())
    adapter = PromptAdapter(prompt).with_bootstrapped_demos(examples[:3], max_demos=2)
    assert adapter.prompt.demos == tuple(examples[:3]) and adapter.prompt.max_demos == 2
    assert adapter.extract_variables()["n_demos"].high == 2
    assert prompt.demos == ()  # the original is untouched
    storage = f"sqlite:///{tmp_path}/b.db"
    study = create_study(study_name="boot", storage=storage, seed=0)
    study.optimize(prompt, examples, accuracy, n_trials=4, bootstrap=Bootstrap(max_examples=6, max_demos=2))
    demos = study.bootstrapped_demos
    assert demos is not None and len(demos.tried) == 6 and demos.usage.calls == 6
    assert demos.passed and demos.examples == [examples[i] for i in demos.passed]
    stored = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
    assert stored["n_demos"]["high"] == min(2, len(demos.passed))
    calls = fake.calls
    load_study("boot", storage=storage).optimize(prompt, examples, accuracy, n_trials=0, bootstrap=Bootstrap())
    assert fake.calls == calls  # not run again on resume
    best = study.best.apply_to(prompt)  # the demos reach the Prompt as written
    assert isinstance(best, PromptAdapter) and best.prompt.demos == tuple(demos.examples)
