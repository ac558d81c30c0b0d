from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from stacktune import Evaluation, Usage, UsageMeter, evaluate_examples, metering, record_usage


def run_square(example: int) -> tuple[int, Usage]:
    return example * example, Usage(calls=1, input_tokens=example, output_tokens=1, cost_usd=0.01)


def is_even(example: int, prediction: int) -> bool:
    return prediction % 2 == 0


class TestSequential:
    def test_score_is_the_mean_and_usage_adds_up(self) -> None:
        evaluation = evaluate_examples([1, 2, 3, 4], run_square, is_even)
        assert evaluation.scores == (0.0, 1.0, 0.0, 1.0)
        assert evaluation.score == 0.5
        assert evaluation.is_consistent()
        assert evaluation.usage.calls == 4
        assert evaluation.usage.input_tokens == 10
        assert evaluation.usage.output_tokens == 4
        assert evaluation.usage.cost_usd == pytest.approx(0.04)
        assert len(evaluation.usage.latencies) == 4
        assert all(latency >= 0 for latency in evaluation.usage.latencies)

    def test_on_result_gets_every_index_in_order(self) -> None:
        seen: list[tuple[int, float]] = []
        evaluate_examples([1, 2, 3], run_square, is_even, on_result=lambda i, s: seen.append((i, s)))
        assert seen == [(0, 0.0), (1, 1.0), (2, 0.0)]

    def test_failing_examples_and_metrics_score_zero_and_are_counted(self) -> None:
        def run(example: int) -> tuple[int, Usage]:
            if example == 2:
                raise ConnectionError("server went away")
            return example, Usage(calls=1)

        def metric(example: int, prediction: int) -> float:
            if example == 3:
                raise KeyError("label")
            return 1.0

        evaluation = evaluate_examples([1, 2, 3, 4], run, metric)
        assert evaluation.scores == (1.0, 0.0, 0.0, 1.0)
        assert [(f.index, f.error_type) for f in evaluation.failures] == [(1, "ConnectionError"), (2, "KeyError")]
        assert "server went away" in evaluation.failures[0].message

    def test_usage_attached_to_an_exception_is_kept(self) -> None:
        def run(example: int) -> tuple[int, Usage]:
            error = ValueError("could not parse")
            error.usage = Usage(calls=1, input_tokens=7)  # type: ignore[attr-defined]
            raise error

        evaluation = evaluate_examples([1], run, is_even)
        assert evaluation.usage.input_tokens == 7
        assert evaluation.n_failures == 1

    @pytest.mark.parametrize("bad", ["yes", float("nan"), None])
    def test_metric_returning_a_non_number_is_a_failure(self, bad: Any) -> None:
        evaluation = evaluate_examples([1], run_square, lambda e, p: bad)
        assert evaluation.scores == (0.0,)
        assert evaluation.n_failures == 1

    def test_exception_from_on_result_stops_new_calls_and_propagates(self) -> None:
        calls: list[int] = []

        def run(example: int) -> tuple[int, Usage]:
            calls.append(example)
            return example, Usage(calls=1)

        def on_result(index: int, score: float) -> None:
            if index == 1:
                raise RuntimeError("prune")

        with pytest.raises(RuntimeError, match="prune"):
            evaluate_examples(list(range(10)), run, is_even, on_result=on_result)
        assert calls == [0, 1]

    def test_keyboard_interrupt_is_not_swallowed(self) -> None:
        def run(example: int) -> tuple[int, Usage]:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            evaluate_examples([1, 2], run, is_even)

    def test_empty_dataset(self) -> None:
        evaluation = evaluate_examples([], run_square, is_even)
        assert evaluation == Evaluation.from_scores([])
        assert evaluation.score == 0.0

    def test_max_concurrency_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="max_concurrency"):
            evaluate_examples([1], run_square, is_even, max_concurrency=0)


class TestConcurrent:
    def test_same_scores_as_sequential(self) -> None:
        data = list(range(40))
        sequential = evaluate_examples(data, run_square, is_even)
        concurrent = evaluate_examples(data, run_square, is_even, max_concurrency=4)
        assert concurrent.scores == sequential.scores
        assert concurrent.usage.calls == sequential.usage.calls == 40

    def test_runs_at_most_max_concurrency_at_once(self) -> None:
        lock = threading.Lock()
        active = 0
        peak = 0

        def run(example: int) -> tuple[int, Usage]:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.01)
            with lock:
                active -= 1
            return example, Usage(calls=1)

        evaluate_examples(list(range(12)), run, is_even, max_concurrency=3)
        assert 1 < peak <= 3

    def test_stop_leaves_the_rest_unstarted(self) -> None:
        started: list[int] = []
        lock = threading.Lock()

        def run(example: int) -> tuple[int, Usage]:
            with lock:
                started.append(example)
            return example, Usage(calls=1)

        def on_result(index: int, score: float) -> None:
            raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            evaluate_examples(list(range(50)), run, is_even, on_result=on_result, max_concurrency=2)
        assert len(started) <= 3, "only the examples in flight when the first result landed may have started"


class TestMetering:
    def test_meter_sees_usage_from_worker_threads(self) -> None:
        meter = UsageMeter()
        with metering(meter):
            evaluate_examples(list(range(6)), run_square, is_even, max_concurrency=3)
        assert meter.total.calls == 6
        assert meter.total.latencies == (), "the meter keeps totals, not per-example lists"

    def test_record_usage_outside_a_meter_is_harmless_and_nested_meters_both_count(self) -> None:
        record_usage(Usage(calls=1))
        outer, inner = UsageMeter(), UsageMeter()
        with metering(outer):
            record_usage(Usage(calls=1))
            with metering(inner):
                record_usage(Usage(calls=2))
        assert (outer.total.calls, inner.total.calls) == (3, 2)

    def test_listeners_are_called(self) -> None:
        meter = UsageMeter()
        heard: list[int] = []
        meter.subscribe(lambda usage: heard.append(usage.calls))
        meter.add(Usage(calls=2))
        assert heard == [2]


class TestUsage:
    def test_spent_excludes_cache_hits(self) -> None:
        usage = Usage(calls=4, cache_hits=1, input_tokens=30, output_tokens=10, cached_tokens=10,
                      cost_usd=0.4, cached_cost_usd=0.1)
        assert (usage.spent_calls, usage.spent_tokens, usage.total_tokens) == (3, 30, 40)
        assert usage.spent_cost_usd == pytest.approx(0.3)

    def test_sum(self) -> None:
        total = Usage.sum([Usage(calls=1, latencies=(0.5,)), Usage(calls=2, latencies=(1.5,))])
        assert total.calls == 3
        assert total.mean_latency == 1.0
        assert total.total_latency == 2.0
