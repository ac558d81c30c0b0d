"""LangChain through ``BaseCache`` on stacktune's response cache: keyed by every sampling parameter, tied to the study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_openai import ChatOpenAI

import stacktune
from stacktune.cache import MemoryCache, SqlCache
from stacktune_langchain import LangChainAdapter
from stacktune_langchain._cache import StacktuneLLMCache
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric

from .conftest import DUMMY_URL, CountingQuiz, quiz_prompt


def openai(**kwargs: Any) -> ChatOpenAI:
    settings: dict[str, Any] = {"base_url": DUMMY_URL, "api_key": "sk-one", "model": "dummy-model", "temperature": 0.3}
    return ChatOpenAI(**{**settings, **kwargs})


PROMPT = '[{"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"]}]'


def key_of(model: ChatOpenAI, **call: Any) -> str:
    return StacktuneLLMCache(MemoryCache()).bind(model).key(PROMPT, model._get_llm_string(**call))


# -- the key ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [{"temperature": 0.9}, {"top_p": 0.5}, {"max_tokens": 7}, {"seed": 3}, {"stop": ["\n"]}, {"model": "other"}],
)
def test_every_sampling_parameter_changes_the_key(change: dict[str, Any]) -> None:
    assert key_of(openai(**change)) != key_of(openai())


def test_call_arguments_change_the_key() -> None:
    model = openai()
    assert key_of(model, stop=["."]) != key_of(model)
    tool = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
    assert key_of(model, tools=[tool]) != key_of(model)
    assert key_of(model, response_format={"type": "json_object"}) != key_of(model)


@pytest.mark.parametrize("change", [{"api_key": "sk-two"}, {"default_headers": {"X-Team": "b"}}, {"timeout": 5}])
def test_credentials_and_headers_never_change_the_key(change: dict[str, Any]) -> None:
    assert key_of(openai(**change)) == key_of(openai())


def test_a_copy_with_another_temperature_never_gets_the_originals_answer() -> None:
    """The known bug class: LangChain's llm_string is built from a cached serialization of the model.

    ``model_copy`` copies that cache, so the copy's llm_string still says temperature 0.3;
    stacktune's key reads the parameters the copy really calls with.
    """
    original = openai()
    stale = original._get_llm_string()
    hot = original.model_copy(update={"temperature": 0.9})
    assert hot._get_llm_string() == stale, "LangChain's own key does not see the new temperature"
    assert key_of(hot) != key_of(original)


# -- in evaluations and studies ---------------------------------------------------------------------------
def chain(model: QuizChatModel) -> Any:
    return quiz_prompt() | model | StrOutputParser()


def test_an_explicit_cache_serves_a_repeat_as_cache_hits() -> None:
    model = CountingQuiz()
    adapter = LangChainAdapter(chain(model), cache=MemoryCache())
    first = adapter.evaluate(quiz_dataset(4), quiz_metric)
    again = adapter.apply_configuration({}).evaluate(quiz_dataset(4), quiz_metric)
    assert len(model.answered) == 4
    assert first.usage.cache_hits == 0 and again.usage.cache_hits == again.usage.calls == 4
    assert again.usage.spent_calls == 0 and again.usage.cached_tokens == first.usage.total_tokens
    assert again.scores == first.scores


class QuietQuiz(CountingQuiz):
    """A model that reports no ``_identifying_params``, as many custom models: LangChain's key has no temperature."""

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {}


def test_each_temperature_gets_its_own_answers() -> None:
    """A model without ``_identifying_params``: LangChain's own key has no temperature, ours does."""
    assert QuietQuiz(temperature=0.1)._get_llm_string() == QuietQuiz(temperature=0.9)._get_llm_string()
    model = QuietQuiz()
    adapter = LangChainAdapter(chain(model), cache=MemoryCache())
    names = [n for n in adapter.extract_variables().names if n.endswith("temperature")]
    assert names
    adapter.apply_configuration({names[0]: 0.1}).evaluate(quiz_dataset(2), quiz_metric)
    adapter.apply_configuration({names[0]: 0.9}).evaluate(quiz_dataset(2), quiz_metric)
    assert len(model.answered) == 4


def test_no_cache_outside_a_study_unless_given_and_the_export_has_none() -> None:
    model = CountingQuiz()
    adapter = LangChainAdapter(chain(model))
    adapter.evaluate(quiz_dataset(2), quiz_metric)
    adapter.evaluate(quiz_dataset(2), quiz_metric)
    assert len(model.answered) == 4
    configured = LangChainAdapter(chain(model), cache=MemoryCache()).apply_configuration({})
    exported = configured.to_native()
    assert all(step.cache is None for step in exported.steps if isinstance(step, QuizChatModel))
    assert model.cache is None, "the original is never touched"


def test_a_model_that_says_no_cache_is_left_alone() -> None:
    model = CountingQuiz(cache=False)
    adapter = LangChainAdapter(chain(model), cache=MemoryCache())
    adapter.evaluate(quiz_dataset(2), quiz_metric)
    adapter.evaluate(quiz_dataset(2), quiz_metric)
    assert len(model.answered) == 4


def test_a_repeated_study_pays_zero_calls(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    first_model = CountingQuiz()
    first = stacktune.create_study(study_name="first", storage=storage, seed=0)
    first.optimize(LangChainAdapter(chain(first_model)), quiz_dataset(4), quiz_metric, n_trials=5)
    assert first_model.answered and first.spent.calls == len(first_model.answered)
    again_model = CountingQuiz()
    again = stacktune.create_study(study_name="again", storage=storage, seed=0)
    again.optimize(
        LangChainAdapter(chain(again_model)), quiz_dataset(4), quiz_metric, n_trials=5, budget=stacktune.Budget(calls=1)
    )
    assert again_model.answered == [], "every answer is in the study's storage"
    assert again.spent.calls == 0 and len(again.trials) == len(first.trials)
    assert isinstance(again.response_cache, SqlCache) and len(again.response_cache) > 0
    hits = [t.evaluation.cache_hits for t in again.trials if t.evaluation is not None]
    assert hits and all(h > 0 for h in hits)


def test_async_evaluation_uses_the_cache_too() -> None:
    import asyncio

    model = CountingQuiz()
    adapter = LangChainAdapter(chain(model), cache=MemoryCache())
    asyncio.run(adapter.aevaluate(quiz_dataset(3), quiz_metric))
    again = asyncio.run(adapter.aevaluate(quiz_dataset(3), quiz_metric))
    assert len(model.answered) == 3 and again.usage.cache_hits == 3
