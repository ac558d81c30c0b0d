"""DSPy through its cache hook (``dspy.cache``) on stacktune's response cache: keyed by every setting, tied to the study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dspy
import pytest

import stacktune
from stacktune.cache import MemoryCache, SqlCache
from stacktune_dspy import DSPyAdapter
from stacktune_dspy._cache import StacktuneDSPyCache, request_key
from stacktune_dspy.testing import ScriptedEngine, scripted_lm

from .conftest import QA, answer_capitals

LM15 = {
    "_fn_identifier": "dspy.clients.lm15.complete",
    "request": {
        "model": "openai/smol",
        "system": "Answer.",
        "messages": [{"role": "user", "parts": [{"type": "text", "text": "Capital of France?"}]}],
        "config": {"temperature": 0.0, "top_p": 1.0, "max_tokens": 64, "stop": [], "seed": 0},
    },
    "rollout_id": None,
}
LITELLM = {
    "_fn_identifier": "dspy.clients.lm.litellm_completion",
    "model": "openai/smol",
    "messages": [{"role": "user", "content": "Capital of France?"}],
    "temperature": 0.0,
    "top_p": 1.0,
    "max_tokens": 64,
    "seed": 0,
}


def changed(request: dict[str, Any], **change: Any) -> dict[str, Any]:
    if "request" in request:
        inner = request["request"]
        return {**request, "request": {**inner, "config": {**inner["config"], **change}}}
    return {**request, **change}


@pytest.mark.parametrize("shape", [LM15, LITELLM], ids=["lm15", "litellm"])
@pytest.mark.parametrize(
    "change", [{"temperature": 0.7}, {"top_p": 0.9}, {"max_tokens": 65}, {"stop": ["\n"]}, {"seed": 1}]
)
def test_every_sampling_setting_changes_the_key(shape: dict[str, Any], change: dict[str, Any]) -> None:
    assert request_key(changed(shape, **change)) != request_key(shape)


def test_the_model_messages_and_tools_change_the_key_credentials_and_sync_or_async_do_not() -> None:
    assert request_key({**LITELLM, "model": "openai/other"}) != request_key(LITELLM)
    assert request_key({**LITELLM, "messages": [{"role": "user", "content": "?"}]}) != request_key(LITELLM)
    assert request_key({**LITELLM, "tools": [{"type": "function"}]}) != request_key(LITELLM)
    assert request_key({**LITELLM, "response_format": {"type": "json_object"}}) != request_key(LITELLM)
    assert request_key({**LITELLM, "api_key": "sk-1"}) == request_key({**LITELLM, "api_key": "sk-2"})
    assert request_key({**LITELLM, "extra_headers": {"X": "1"}}) == request_key(LITELLM)
    assert request_key({**LM15, "_fn_identifier": "dspy.clients.lm15.complete.async"}) == request_key(LM15)


def cached_lm(engine: ScriptedEngine, **kwargs: Any) -> dspy.LM:
    return scripted_lm(engine=engine, cache=True, **kwargs)


def test_an_explicit_cache_serves_a_repeat_as_cache_hits(dataset: list[Any], metric: Any) -> None:
    engine = ScriptedEngine(answer_capitals)
    adapter = DSPyAdapter(QA(), lm=cached_lm(engine), cache=MemoryCache())
    first = adapter.evaluate(dataset, metric)
    again = adapter.apply_configuration({}).evaluate(dataset, metric)
    assert len(engine.calls) == 8, "two predictors, four examples, once"
    assert again.scores == first.scores and first.usage.cache_hits == 0
    assert again.usage.cache_hits == again.usage.calls == 8 and again.usage.spent_calls == 0
    assert again.usage.cached_tokens == first.usage.total_tokens
    assert isinstance(dspy.cache, StacktuneDSPyCache)


def test_each_temperature_gets_its_own_answers(dataset: list[Any], metric: Any) -> None:
    engine = ScriptedEngine(answer_capitals)
    memory = MemoryCache()
    DSPyAdapter(QA(), lm=cached_lm(engine, temperature=0.0), cache=memory).evaluate(dataset[:1], metric)
    DSPyAdapter(QA(), lm=cached_lm(engine, temperature=0.7), cache=memory).evaluate(dataset[:1], metric)
    DSPyAdapter(QA(), lm=cached_lm(engine, temperature=0.7), cache=memory).evaluate(dataset[:1], metric)
    assert len(engine.calls) == 4 and len(memory) == 4


def test_an_lm_without_cache_and_an_adapter_without_cache_are_never_cached(dataset: list[Any], metric: Any) -> None:
    engine = ScriptedEngine(answer_capitals)
    memory = MemoryCache()
    adapter = DSPyAdapter(QA(), lm=scripted_lm(engine=engine), cache=memory)  # cache=False on the LM
    adapter.evaluate(dataset[:1], metric)
    adapter.evaluate(dataset[:1], metric)
    assert len(engine.calls) == 4 and len(memory) == 0
    off = DSPyAdapter(QA(), lm=cached_lm(engine), cache=False)
    with dspy.context(lm=None):
        off.evaluate(dataset[:1], metric)
    assert len(memory) == 0


def test_a_repeated_study_pays_zero_calls(tmp_path: Path, dataset: list[Any], metric: Any) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    first_engine = ScriptedEngine(answer_capitals)
    first = stacktune.create_study(study_name="first", storage=storage, seed=0)
    first.optimize(DSPyAdapter(QA(), lm=cached_lm(first_engine)), dataset, metric, n_trials=4)
    assert first_engine.calls and first.spent.calls == len(first_engine.calls)
    again_engine = ScriptedEngine(answer_capitals)
    again = stacktune.create_study(study_name="again", storage=storage, seed=0)
    again.optimize(
        DSPyAdapter(QA(), lm=cached_lm(again_engine)), dataset, metric, n_trials=4, budget=stacktune.Budget(calls=1)
    )
    assert again_engine.calls == [], "every answer is in the study's storage"
    assert again.spent.calls == 0 and len(again.trials) == len(first.trials)
    assert isinstance(again.response_cache, SqlCache) and len(again.response_cache) > 0
    hits = [t.evaluation.cache_hits for t in again.trials if t.evaluation is not None]
    assert hits and all(h > 0 for h in hits)
