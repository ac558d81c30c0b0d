"""evaluate / aevaluate: scores as they land, usage from our own callback, failures counted."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda

from stacktune import Price, SupportsAsyncEvaluate, UsageMeter, call_cost, metering
from stacktune_langchain import LangChainAdapter, UsageCallbackHandler
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric

from .conftest import CAREFUL, quiz_prompt


def expected_tokens(dataset: list[dict[str, Any]], answer_words: int = 4) -> tuple[int, int]:
    """What QuizChatModel reports: words of the formatted prompt in, words of the answer out."""
    inputs = sum(len("\n".join(m.text for m in quiz_prompt().invoke(ex).to_messages()).split()) for ex in dataset)
    return inputs, answer_words * len(dataset)


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    def __call__(self, example: Any) -> Any:
        with self.lock:
            self.count += 1
        return example


def test_scores_and_usage_add_up(simple_chain: Runnable[Any, Any]) -> None:
    dataset = quiz_dataset(5)
    adapter = LangChainAdapter(simple_chain, prompts={"step0.prompt.system": [CAREFUL]})
    seen: list[tuple[int, float]] = []
    evaluation = adapter.evaluate(dataset, quiz_metric, on_result=lambda i, s: seen.append((i, s)))
    assert evaluation.scores == (0.0,) * 5 and evaluation.is_consistent()
    assert seen == [(i, 0.0) for i in range(5)]
    usage = evaluation.usage
    assert usage.calls == 5 and (usage.input_tokens, usage.output_tokens) == expected_tokens(dataset)
    assert len(usage.latencies) == 5 and all(t > 0 for t in usage.latencies)
    assert usage.unpriced_calls == 5 and usage.cost_usd == 0.0
    key = next(
        k
        for k, v in adapter.extract_variables()["step0.prompt.system"].choices.items()  # type: ignore[union-attr]
        if v == CAREFUL
    )
    tuned = adapter.apply_configuration({"step0.prompt.system": key, "step1.model.temperature": 0.3})
    assert tuned.evaluate(dataset, quiz_metric).score == 1.0


def test_usage_without_model_name_is_still_counted() -> None:
    chain = quiz_prompt() | QuizChatModel(model_name="")
    dataset = quiz_dataset(3)
    with get_usage_metadata_callback() as langchain_counter:
        evaluation = LangChainAdapter(chain).evaluate(dataset, quiz_metric)
    assert langchain_counter.usage_metadata == {}  # LangChain's own helper lost it all
    assert (evaluation.usage.input_tokens, evaluation.usage.output_tokens) == expected_tokens(dataset)


class LegacyUsageModel(QuizChatModel):
    """Reports tokens only in llm_output, like older providers."""

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content="The answer is 1."))],
            llm_output={"token_usage": {"prompt_tokens": 11, "completion_tokens": 3}},
        )


def test_usage_from_llm_output_token_usage() -> None:
    evaluation = LangChainAdapter(quiz_prompt() | LegacyUsageModel()).evaluate(quiz_dataset(2), quiz_metric)
    assert (evaluation.usage.calls, evaluation.usage.input_tokens, evaluation.usage.output_tokens) == (2, 22, 6)


def test_prices_give_a_cost() -> None:
    dataset = quiz_dataset(2)
    adapter = LangChainAdapter(quiz_prompt() | QuizChatModel(), prices={"quiz": Price(1.0, 2.0)})
    usage = adapter.evaluate(dataset, quiz_metric).usage
    inputs, outputs = expected_tokens(dataset)
    assert usage.cost_usd == pytest.approx((inputs * 1.0 + outputs * 2.0) / 1e6) and usage.unpriced_calls == 0


def test_a_known_model_is_priced_from_the_shared_table() -> None:
    dataset = quiz_dataset(2)
    usage = (
        LangChainAdapter(quiz_prompt() | QuizChatModel(model_name="gpt-4o-mini")).evaluate(dataset, quiz_metric).usage
    )
    inputs, outputs = expected_tokens(dataset)
    assert usage.unpriced_calls == 0 and usage.cost_usd > 0
    assert (usage.input_tokens, usage.output_tokens) == (inputs, outputs)
    assert usage.cost_usd == pytest.approx(call_cost("gpt-4o-mini", inputs, outputs))  # linear at this size


def test_prices_must_be_price_values() -> None:
    with pytest.raises(TypeError, match=r"prices\['quiz'\] must be a stacktune.pricing.Price"):
        LangChainAdapter(QuizChatModel(), prices={"quiz": (1.0, 2.0)})  # type: ignore[dict-item]


def test_cache_hits_are_counted() -> None:
    dataset = quiz_dataset(3)
    adapter = LangChainAdapter(quiz_prompt() | QuizChatModel(cache=InMemoryCache()))
    first = adapter.evaluate(dataset, quiz_metric).usage
    second = adapter.evaluate(dataset, quiz_metric).usage
    assert first.cache_hits == 0 and second.cache_hits == 3
    assert second.total_tokens == first.total_tokens and second.spent_tokens == 0 and second.spent_calls == 0


def test_failures_are_counted_and_do_not_stop_the_rest() -> None:
    dataset = quiz_dataset(4)
    chain = quiz_prompt() | QuizChatModel(fail_on=dataset[1]["question"], temperature=0.1)
    evaluation = LangChainAdapter(chain).evaluate(dataset, quiz_metric)
    assert evaluation.n_failures == 1 and evaluation.failures[0].index == 1
    assert evaluation.failures[0].error_type == "ValueError"
    assert evaluation.usage.calls == 4  # the failed call is a call too
    assert len(evaluation.usage.latencies) == 4


def test_failing_metric_is_a_failure(simple_chain: Runnable[Any, Any]) -> None:
    def metric(example: Any, prediction: Any) -> float:
        if example["answer"] == 4:
            raise KeyError("no")
        return 1.0

    evaluation = LangChainAdapter(simple_chain).evaluate(quiz_dataset(3), metric)
    assert evaluation.scores == (0.0, 1.0, 1.0) and evaluation.n_failures == 1


def test_concurrency_gives_the_same_scores() -> None:
    dataset = quiz_dataset(8)
    chain = quiz_prompt() | QuizChatModel(temperature=0.1, fail_on=dataset[5]["question"])
    adapter = LangChainAdapter(chain, prompts={"step0.prompt.system": {"careful": CAREFUL}})
    mixed = [dict(ex, question=ex["question"] + (" careful" if i % 2 else "")) for i, ex in enumerate(dataset)]
    sequential = adapter.evaluate(mixed, quiz_metric)
    parallel = adapter.evaluate(mixed, quiz_metric, max_concurrency=4)
    assert parallel.scores == sequential.scores and set(sequential.scores) == {0.0, 1.0}
    assert parallel.usage.total_tokens == sequential.usage.total_tokens


def test_on_result_raising_stops_the_evaluation() -> None:
    counter = Counter()
    adapter = LangChainAdapter(RunnableLambda(counter) | quiz_prompt() | QuizChatModel())

    def stop(index: int, score: float) -> None:
        if index == 1:
            raise RuntimeError("pruned")

    with pytest.raises(RuntimeError, match="pruned"):
        adapter.evaluate(quiz_dataset(6), quiz_metric, on_result=stop)
    assert counter.count == 2


def test_usage_reaches_the_study_meter(simple_chain: Runnable[Any, Any]) -> None:
    meter = UsageMeter()
    with metering(meter):
        LangChainAdapter(simple_chain).evaluate(quiz_dataset(3), quiz_metric, max_concurrency=2)
    assert meter.total.calls == 3 and meter.total.total_tokens > 0


def test_input_of_maps_examples_to_inputs(simple_chain: Runnable[Any, Any]) -> None:
    dataset = [("What is 1 + 1?", 2), ("What is 2 + 2?", 4)]
    adapter = LangChainAdapter(simple_chain, input_of=lambda ex: {"question": ex[0]})
    evaluation = adapter.evaluate(dataset, lambda ex, out: str(ex[1] + 1) in out)
    assert evaluation.scores == (1.0, 1.0)


# -- async -----------------------------------------------------------------------


def test_aevaluate_matches_evaluate() -> None:
    dataset = quiz_dataset(6)
    chain = quiz_prompt() | QuizChatModel(temperature=0.1, fail_on=dataset[2]["question"])
    adapter = LangChainAdapter(chain)
    assert isinstance(adapter, SupportsAsyncEvaluate)
    mixed = [dict(ex, question=ex["question"] + (" careful" if i % 2 else "")) for i, ex in enumerate(dataset)]
    seen: list[int] = []
    meter = UsageMeter()
    with metering(meter):
        result = asyncio.run(
            adapter.aevaluate(mixed, quiz_metric, on_result=lambda i, s: seen.append(i), max_concurrency=3)
        )
    expected = adapter.evaluate(mixed, quiz_metric)
    assert result.scores == expected.scores and sorted(seen) == list(range(6))
    assert result.n_failures == 1 and result.failures[0].index == 2
    assert result.usage.calls == 6 and result.usage.total_tokens == expected.usage.total_tokens
    assert meter.total.calls == 6


def test_aevaluate_stops_when_on_result_raises() -> None:
    counter = Counter()
    adapter = LangChainAdapter(RunnableLambda(counter) | quiz_prompt() | QuizChatModel())

    def stop(index: int, score: float) -> None:
        raise RuntimeError("pruned")

    with pytest.raises(RuntimeError, match="pruned"):
        asyncio.run(adapter.aevaluate(quiz_dataset(6), quiz_metric, on_result=stop))
    assert counter.count == 1


def test_aevaluate_rejects_bad_concurrency(simple_chain: Runnable[Any, Any]) -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        asyncio.run(LangChainAdapter(simple_chain).aevaluate(quiz_dataset(1), quiz_metric, max_concurrency=0))


def test_handler_counts_errors_as_calls() -> None:
    handler = UsageCallbackHandler()
    with pytest.raises(ValueError):
        QuizChatModel(fail_on="boom").invoke("boom", {"callbacks": [handler]})
    assert handler.usage().calls == 1 and handler.usage().total_tokens == 0
