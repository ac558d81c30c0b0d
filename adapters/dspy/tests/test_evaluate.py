"""evaluate: per-example dspy.context in our threads, usage of that evaluation only, failures scored 0."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import dspy
import pytest

from stacktune import FREE, Price, call_cost
from stacktune_dspy import DSPyAdapter, usage_from_history
from stacktune_dspy.testing import ScriptedEngine, scripted_lm


def test_scores_and_usage_of_one_evaluation(
    program: Any, lm: dspy.LM, engine: ScriptedEngine, dataset: list[Any], metric: Any
) -> None:
    adapter = DSPyAdapter(program, lm=lm)
    seen: list[tuple[int, float]] = []
    evaluation = adapter.evaluate(dataset, metric, on_result=lambda i, s: seen.append((i, s)))
    assert evaluation.scores == (1.0, 1.0, 1.0, 1.0) and evaluation.score == 1.0
    assert seen == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)]
    usage = evaluation.usage
    assert usage.calls == 8 == len(engine.calls)  # rewrite + answer per example
    prompts_words = sum(len(c.system.split()) + len(c.prompt.split()) for c in engine.calls)
    assert usage.input_tokens >= prompts_words > 0
    assert usage.output_tokens > 0 and usage.unpriced_calls == 8 and usage.cost_usd == 0.0
    assert len(usage.latencies) == 4 and all(latency > 0 for latency in usage.latencies)


def test_usage_counts_only_this_evaluation(program: Any, lm: dspy.LM, dataset: list[Any], metric: Any) -> None:
    adapter = DSPyAdapter(program, lm=lm)
    first = adapter.evaluate(dataset[:1], metric)
    with dspy.context(lm=lm):
        program(question="What is the capital of Peru?")  # calls outside any evaluation
    second = adapter.evaluate(dataset, metric, max_concurrency=3)
    assert first.usage.calls == 2
    assert second.usage.calls == 8
    assert len(lm.history) == 12  # DSPy saw every call; each evaluation counted only its own


def test_concurrent_evaluation_matches_sequential(program: Any, lm: dspy.LM, dataset: list[Any], metric: Any) -> None:
    dataset = dataset + [dspy.Example(question="What is the capital of Atlantis?", answer="?").with_inputs("question")]
    adapter = DSPyAdapter(program, lm=lm)
    sequential = adapter.evaluate(dataset, metric)
    parallel = adapter.evaluate(dataset, metric, max_concurrency=4)
    assert parallel.scores == sequential.scores == (1.0, 1.0, 1.0, 1.0, 0.0)
    assert parallel.usage.calls == sequential.usage.calls == 10
    assert parallel.usage.input_tokens == sequential.usage.input_tokens


def test_runs_in_worker_threads_under_dspy_context(program: Any, dataset: list[Any], metric: Any) -> None:
    threads: set[str] = set()

    def respond(prompt: str, fields: Sequence[str]) -> Mapping[str, Any]:
        threads.add(threading.current_thread().name)
        return {name: "Paris" for name in fields}

    # No dspy.configure anywhere: the LM reaches the workers only through dspy.context.
    adapter = DSPyAdapter(program, lm=scripted_lm(respond))
    evaluation = adapter.evaluate(dataset, metric, max_concurrency=2)
    assert evaluation.n_failures == 0
    assert threads and all(name.startswith("stacktune-eval") for name in threads)


def test_parse_failures_and_lm_errors_score_zero_and_are_counted(program: Any, dataset: list[Any], metric: Any) -> None:
    def respond(prompt: str, fields: Sequence[str]) -> Mapping[str, Any] | str:
        if "Italy" in prompt:
            return "no fields at all"  # the chat adapter, then its JSON fallback, cannot parse this
        if "Spain" in prompt:
            raise ConnectionError("server went away")
        return {name: "Paris" if name == "answer" else "x" for name in fields}

    engine = ScriptedEngine(respond)
    evaluation = DSPyAdapter(program, lm=scripted_lm(engine=engine)).evaluate(dataset, metric)
    assert evaluation.scores == (1.0, 0.0, 0.0, 0.0)
    failed = {f.index: f for f in evaluation.failures}
    assert sorted(failed) == [1, 2]
    assert "Adapter" in failed[1].error_type or "Parse" in failed[1].error_type
    assert "server went away" in failed[2].message
    # France: 2 calls; Italy: rewrite + JSON fallback fail on the first step (2 calls); Spain: no finished call;
    # Japan: 2 calls (the answer is Paris, wrong); Spain's failed call counts too (every attempt is a call).
    assert evaluation.usage.calls == 7 and evaluation.usage.failed_calls == 1
    assert len(evaluation.usage.latencies) == 4


def test_adapter_choice_reaches_the_prompt(
    program: Any, lm: dspy.LM, engine: ScriptedEngine, dataset: list[Any], metric: Any
) -> None:
    adapter = DSPyAdapter(program, lm=lm)
    for key, style in (("json", "json"), ("xml", "xml"), ("chat", "chat")):
        engine.calls.clear()
        evaluation = adapter.apply_configuration({"adapter": key}).evaluate(dataset[:1], metric)
        assert evaluation.score == 1.0
        assert {call.format for call in engine.calls} == {style}


def test_call_settings_reach_the_lm(
    program: Any, lm: dspy.LM, engine: ScriptedEngine, dataset: list[Any], metric: Any
) -> None:
    applied = DSPyAdapter(program, lm=lm).apply_configuration(
        {
            "answer.predict.temperature": 0.7,
            "answer.predict.max_tokens": 123,
            "answer.predict.top_p": 0.9,
            "rewrite.temperature": 0.0,
        }
    )
    applied.evaluate(dataset[:1], metric)
    rewrite_call, answer_call = engine.calls
    assert (answer_call.temperature, answer_call.max_tokens, answer_call.top_p) == (0.7, 123, 0.9)
    assert rewrite_call.temperature == 0.0 and rewrite_call.max_tokens != 123


def test_module_swap_changes_the_prompt(
    program: Any, lm: dspy.LM, engine: ScriptedEngine, dataset: list[Any], metric: Any
) -> None:
    applied = DSPyAdapter(program, lm=lm).apply_configuration({"answer.module": "predict", "rewrite.module": "cot"})
    assert applied.evaluate(dataset[:1], metric).score == 1.0
    rewrite_call, answer_call = engine.calls
    assert rewrite_call.fields == ("reasoning", "query") and answer_call.fields == ("answer",)


def test_on_result_raising_stops_the_evaluation(
    program: Any, lm: dspy.LM, engine: ScriptedEngine, dataset: list[Any], metric: Any
) -> None:
    class Stop(Exception):
        pass

    def stop(index: int, score: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        DSPyAdapter(program, lm=lm).evaluate(dataset, metric, on_result=stop)
    assert len(engine.calls) == 2  # only the first example ran


def test_dict_examples_use_the_forward_parameters(program: Any, lm: dspy.LM, metric: Any) -> None:
    data = [{"question": "What is the capital of Japan?", "answer": "Tokyo"}]
    evaluation = DSPyAdapter(program, lm=lm).evaluate(data, lambda ex, p: p.answer == ex["answer"])
    assert evaluation.scores == (1.0,)


def test_usage_from_history_prices_and_cache_hits() -> None:
    class Stored:
        def __init__(self, inputs: int, outputs: int) -> None:
            self.usage = {"prompt_tokens": inputs, "completion_tokens": outputs}

    # LiteLLM's own cost ("cost") is ignored: prices come from stacktune.pricing by model name.
    entries = [
        {"model": "openai/mine", "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "cost": 9.0, "response": None},
        {
            "model": "openai/unknown-model",
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
            "cost": 0.5,
            "response": None,
        },
        {"model": "openai/mine", "usage": {}, "cost": None, "response": Stored(4, 2)},  # answered from DSPy's cache
    ]
    usage = usage_from_history(entries, prices={"mine": Price(100.0, 200.0)})
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (3, 21, 10)
    assert usage.cost_usd == pytest.approx((10 * 100 + 5 * 200 + 4 * 100 + 2 * 200) / 1e6)
    assert usage.unpriced_calls == 1  # a model nobody knows a price for is unpriced, not free
    assert (usage.cache_hits, usage.cached_tokens) == (1, 6)
    assert usage.cached_cost_usd == pytest.approx((4 * 100 + 2 * 200) / 1e6)
    assert usage.spent_calls == 2 and usage.spent_tokens == 25


def test_usage_from_history_prices_known_models_from_the_table() -> None:
    entries = [
        {
            "model": "openai/gpt-4o-mini",
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
            "cost": None,
            "response": None,
        }
    ]
    usage = usage_from_history(entries)
    assert usage.unpriced_calls == 0
    assert usage.cost_usd == pytest.approx(call_cost("gpt-4o-mini", 1000, 100)) and usage.cost_usd > 0


def test_the_prices_option_prices_the_program_calls(program: Any, lm: dspy.LM, metric: Any, dataset: list[Any]) -> None:
    free = DSPyAdapter(program, lm=lm, prices={lm.model: FREE}).evaluate(dataset, metric).usage
    assert free.calls > 0 and free.unpriced_calls == 0 and free.cost_usd == 0.0
    dear = DSPyAdapter(program, lm=lm, prices={lm.model: Price(1e6, 1e6)}).evaluate(dataset, metric).usage
    assert dear.cost_usd == pytest.approx(dear.input_tokens + dear.output_tokens)
    with pytest.raises(TypeError, match=r"prices\['x'\] must be a stacktune.pricing.Price"):
        DSPyAdapter(program, lm=lm, prices={"x": 0.5})  # type: ignore[dict-item]


def test_answers_from_dspy_cache_are_counted_as_cache_hits(
    program: Any, engine: ScriptedEngine, dataset: list[Any], metric: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dspy.clients.cache import Cache

    monkeypatch.setattr(dspy, "cache", Cache(enable_disk_cache=False, enable_memory_cache=True, disk_cache_dir=None))
    adapter = DSPyAdapter(program, lm=scripted_lm(engine=engine, cache=True))
    first = adapter.evaluate(dataset, metric)
    second = adapter.evaluate(dataset, metric)
    assert len(engine.calls) == 8  # the second evaluation never reached the engine
    assert first.usage.cache_hits == 0 and first.usage.calls == 8
    assert second.usage.calls == 8 and second.usage.cache_hits == 8 and second.usage.spent_calls == 0
    assert second.usage.total_tokens == first.usage.total_tokens == second.usage.cached_tokens
    assert second.scores == first.scores
