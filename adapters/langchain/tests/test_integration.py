"""A real study through ChatOpenAI against the local SmolLM2 server (marked integration)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import optuna
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from stacktune import Bootstrap, create_study
from stacktune_conformance.caching import check_a_repeated_study_pays_nothing
from stacktune_langchain import LangChainAdapter

pytestmark = pytest.mark.integration

MAX_TOKENS = 4
REVIEWS = [
    ("I love this phone, the camera is wonderful.", "positive"),
    ("The strap broke on the first day.", "negative"),
    ("Delicious tea with a lovely smell.", "positive"),
    ("Worst purchase ever, it never turned on.", "negative"),
    ("The hotel staff were kind and the room was spotless.", "positive"),
    ("Loud, slow and it overheats.", "negative"),
    ("Perfect gift, my sister was thrilled.", "positive"),
    ("The pages fell out of the book.", "negative"),
    ("Great value and it works well.", "positive"),
    ("Rude driver and a dirty car.", "negative"),
]
DATASET = [{"text": text, "label": label} for text, label in REVIEWS]


def accuracy(example: dict[str, str], prediction: str) -> bool:
    return example["label"] in prediction.lower()


def make_chain(local_server: Any, http_async_client: httpx2.AsyncClient | None = None) -> Any:
    prompt = ChatPromptTemplate(
        [("system", "Is the review positive or negative? Answer with one word."), ("human", "{text}")]
    )
    # ChatOpenAI sends max_tokens as `max_completion_tokens`; stacktune_llamacpp's server maps it
    # to the `max_tokens` llama.cpp reads, so the plain LangChain setting caps the answers.
    model = ChatOpenAI(
        base_url=local_server.base_url,
        model=local_server.model,
        api_key="local",  # type: ignore[arg-type]
        temperature=0.7,
        max_tokens=MAX_TOKENS,
        timeout=60,
        max_retries=1,
        http_async_client=http_async_client,
    )
    return prompt | model | StrOutputParser()


@pytest.fixture
def chain(local_server: Any) -> Any:
    return make_chain(local_server)


def test_real_study_of_ten_trials(chain: Any) -> None:
    before = repr(chain)
    adapter = LangChainAdapter(
        chain,
        exclude=["*.human"],
        bounds={"step1.model.max_tokens": (2, MAX_TOKENS)},
        prompts={
            "step0.prompt.system": [
                "Sentiment of the review: reply positive or negative.",
                "You classify reviews. Output only one word, positive or negative.",
            ]
        },
    )
    space = adapter.extract_variables()
    assert set(space.names) == {
        "step1.model.temperature",
        "step1.model.top_p",
        "step1.model.max_tokens",
        "step0.prompt.system",
    }
    study = create_study(storage=optuna.storages.InMemoryStorage(), objectives=["score", "tokens"], seed=1)
    study.optimize(adapter, DATASET, accuracy, n_trials=10, max_concurrency=2)

    trials = study.completed_trials()
    assert len(trials) == 10
    for trial in trials:
        assert set(trial.configuration) <= set(space.names)
        assert 0.0 <= trial.configuration["step1.model.temperature"] <= 2.0
        evaluation = trial.evaluation
        assert evaluation is not None
        assert evaluation.n_failures == 0 and evaluation.calls == len(DATASET)
        assert evaluation.input_tokens > 10 * len(DATASET)  # real prompt token counts from the server
        # each trial's own max_tokens holds through ChatOpenAI (the count may include the end token: +1)
        cap = trial.configuration["step1.model.max_tokens"]
        assert 0 < evaluation.output_tokens <= (cap + 1) * len(DATASET)
        assert evaluation.mean_latency > 0
        assert trial.values["tokens"] > 0 and 0.0 <= trial.values["score"] <= 1.0
    best = max(trials, key=lambda t: t.values["score"])
    deployed = best.export(adapter)
    answer = deployed.invoke({"text": "Awful, it smells bad."})  # type: ignore[attr-defined]
    assert isinstance(answer, str) and answer
    assert repr(chain) == before


def test_async_evaluation_on_the_real_server(local_server: Any) -> None:
    # Our own event loop and our own async client (the OpenAI SDK's is httpx2), closed before
    # the loop is: a client left to the garbage collector warns about its open sockets in
    # whatever test runs next.
    async def evaluate_then_close() -> Any:
        async with httpx2.AsyncClient(timeout=60) as client:
            chain = make_chain(local_server, http_async_client=client)
            adapter = LangChainAdapter(chain).apply_configuration({"step1.model.temperature": 0.0})
            evaluation = await adapter.aevaluate(DATASET[:4], accuracy, max_concurrency=2)  # type: ignore[attr-defined]
            return adapter, evaluation

    adapter, evaluation = asyncio.run(evaluate_then_close())
    assert evaluation.n_failures == 0 and evaluation.usage.calls == 4
    assert evaluation.usage.input_tokens > 0 and 0 < evaluation.usage.output_tokens <= 4 * MAX_TOKENS
    again = adapter.evaluate(DATASET[:4], accuracy)
    assert again.scores == evaluation.scores  # temperature 0: the same answers through both paths


def test_a_repeated_study_on_the_real_server_pays_zero_calls(local_server: Any, tmp_path: Any) -> None:
    """The study's response cache through LangChain's BaseCache, with ChatOpenAI's real answers."""
    storage = f"sqlite:///{tmp_path}/study.db"

    def run(name: str) -> Any:
        study = create_study(study_name=name, storage=storage, seed=0)
        study.optimize(LangChainAdapter(make_chain(local_server)), DATASET[:4], accuracy, n_trials=3)
        return study

    check_a_repeated_study_pays_nothing(run)


def test_bootstrapped_demos_on_the_real_server(local_server: Any, tmp_path: Any) -> None:
    """The model's own answers on the passed examples become literal demo turns of the exported chain."""
    adapter = LangChainAdapter(make_chain(local_server), exclude=["*.top_p", "*.max_tokens", "*.human"])
    greedy = adapter.apply_configuration({"step1.model.temperature": 0.0})  # what the bootstrap runs
    study = create_study(study_name="demos", storage=f"sqlite:///{tmp_path}/demos.db", seed=0)
    bootstrap = Bootstrap(max_examples=4, max_demos=2)
    study.optimize(greedy, DATASET[2:6], accuracy, n_trials=1, bootstrap=bootstrap, baseline=False)
    demos = study.bootstrapped_demos
    assert demos is not None and demos.traced and demos.usage.calls == 4 and demos.usage.input_tokens > 0
    assert demos.passed, "SmolLM2 at temperature 0 got none of the four reviews right (it gets review 4 right)"
    labels = {example["text"]: example["label"] for example in DATASET}
    pairs = [pair for trace in demos.examples or [] for pair in trace["step0.prompt"]]
    assert len(pairs) == len(demos.passed)
    for pair in pairs:  # what the prompt rendered for the example, and what the model really said
        assert pair["human"] in labels and labels[pair["human"]] in pair["ai"].lower()
    assert "step0.prompt.n_demos" in {v["name"] for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
    trial_calls = sum(t.spent.spent_calls for t in study.trials if t.spent is not None)
    assert study.spent.calls == trial_calls + 4
    shown = greedy.with_bootstrapped_demos(demos.examples or [], 2).apply_configuration({"step0.prompt.n_demos": 1})
    exported = shown.to_native()
    calls = shown.model_calls({"text": "Awful, it smells bad."}, exported)
    assert [role for role, _ in calls[0].messages] == ["system", "human", "ai", "human"]
    assert calls[0].messages[1:3] == (("human", pairs[0]["human"]), ("ai", pairs[0]["ai"])) and calls[0].output
