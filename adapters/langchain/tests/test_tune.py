"""LangChain's idiom: ``tune(chain, dataset, metric, ...) -> Runnable``, LangSmith-style datasets as they are."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from langchain_core.runnables import Runnable

import stacktune
from stacktune import StacktuneError
from stacktune_langchain import tune
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric

from .conftest import CAREFUL

# The careful prompt and a low temperature make the quiz model right; nothing else is searched.
SEARCH = {
    "prompts": {"step0.prompt.system": {"careful": CAREFUL}},
    "exclude": ["step1.model.top_p", "step1.model.max_tokens", "*.human"],
    "seed": 3,
}
QUESTION = {"question": "What is 20 + 22?"}


def langsmith_style(n: int = 4) -> list[dict[str, Any]]:
    return [{"inputs": {"question": e["question"]}, "outputs": {"answer": e["answer"]}} for e in quiz_dataset(n)]


def memory() -> optuna.storages.InMemoryStorage:
    return optuna.storages.InMemoryStorage()


def test_plain_dicts_in_a_runnable_out(simple_chain: Runnable[Any, Any]) -> None:
    best = tune(simple_chain, quiz_dataset(4), quiz_metric, n_trials=25, storage=memory(), **SEARCH)
    assert isinstance(best, Runnable) and best is not simple_chain
    assert best.invoke(QUESTION) == "The answer is 42."
    assert simple_chain.invoke(QUESTION) == "The answer is 43."  # the chain itself never changes


def test_langsmith_style_examples_feed_inputs_to_the_chain_and_outputs_to_the_metric(
    simple_chain: Runnable[Any, Any],
) -> None:
    seen: list[Any] = []

    def metric(reference: dict[str, Any], prediction: str) -> float:
        seen.append(reference)
        return quiz_metric(reference, prediction)

    storage = memory()
    best = tune(simple_chain, langsmith_style(), metric, n_trials=25, storage=storage, study_name="ls", **SEARCH)
    assert best.invoke(QUESTION) == "The answer is 42."
    assert seen and all(set(r) == {"answer"} for r in seen)  # the reference outputs, not the whole example
    study = stacktune.load_study("ls", storage)
    assert study.best.values["score"] == 1.0


def test_a_langsmith_evaluator_is_called_with_its_own_parameter_names(simple_chain: Runnable[Any, Any]) -> None:
    calls: list[tuple[Any, ...]] = []

    def correct(inputs: dict[str, Any], outputs: str, reference_outputs: dict[str, Any]) -> dict[str, Any]:
        calls.append((inputs, outputs, reference_outputs))
        return {"key": "correct", "score": str(reference_outputs["answer"]) in outputs}

    best = tune(simple_chain, langsmith_style(), correct, n_trials=25, storage=memory(), **SEARCH)
    assert best.invoke(QUESTION) == "The answer is 42."
    inputs, outputs, reference = calls[0]
    assert set(inputs) == {"question"} and isinstance(outputs, str) and set(reference) == {"answer"}


def test_langsmith_example_objects_are_accepted(simple_chain: Runnable[Any, Any]) -> None:
    schemas = pytest.importorskip("langsmith.schemas")
    examples = [
        schemas.Example(id=f"00000000-0000-0000-0000-00000000000{i}", **e) for i, e in enumerate(langsmith_style())
    ]
    best = tune(simple_chain, examples, quiz_metric, n_trials=25, storage=memory(), **SEARCH)
    assert best.invoke(QUESTION) == "The answer is 42."


def test_valset_verifies_and_the_study_can_be_given(simple_chain: Runnable[Any, Any]) -> None:
    study = stacktune.create_study(storage=memory(), objectives=("score", "tokens"), seed=3)
    search = {k: v for k, v in SEARCH.items() if k != "seed"}
    best = tune(
        simple_chain, langsmith_style(), quiz_metric, n_trials=25, study=study, valset=langsmith_style(6)[4:], **search
    )
    assert len(study.trials) == 25 and study.verified()
    chosen = max(study.verified(), key=lambda v: (v.heldout["score"], -v.number))
    assert chosen.heldout["score"] == 1.0
    assert best.invoke(QUESTION) == "The answer is 42."


def test_mixed_or_wrong_datasets_are_refused_by_name(simple_chain: Runnable[Any, Any]) -> None:
    mixed = [*langsmith_style(2), {"question": "What is 1 + 1?", "answer": 2}]
    with pytest.raises(ValueError, match=r"dataset\[2\] is not LangSmith-style"):
        tune(simple_chain, mixed, quiz_metric, n_trials=1, storage=memory())
    with pytest.raises(ValueError, match="same kind"):
        tune(simple_chain, langsmith_style(2), quiz_metric, n_trials=1, storage=memory(), valset=quiz_dataset(2))
    with pytest.raises(TypeError, match="dataset must be a list of examples, got str"):
        tune(simple_chain, "examples.jsonl", quiz_metric, storage=memory())  # type: ignore[arg-type]


def test_bad_options_are_refused_by_name(simple_chain: Runnable[Any, Any]) -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['n_trial'\]"):
        tune(simple_chain, quiz_dataset(2), quiz_metric, n_trial=3)
    with pytest.raises(TypeError, match=r"study= is given, so \['seed'\] cannot apply"):
        tune(simple_chain, quiz_dataset(2), quiz_metric, study=stacktune.create_study(storage=memory()), seed=1)
    with pytest.raises(TypeError, match="needs a langchain_core Runnable, got str"):
        tune("prompt | model", quiz_dataset(2), quiz_metric)  # type: ignore[arg-type]


def test_no_complete_trial_is_an_error_naming_the_study(prompt: Any) -> None:
    chain = prompt | QuizChatModel(fail_on="sums")
    with pytest.raises(StacktuneError, match="study 'down' has no complete trial to return"):
        tune(chain, quiz_dataset(2), quiz_metric, n_trials=4, storage=memory(), study_name="down")
