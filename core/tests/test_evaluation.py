from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from stacktune import (
    Evaluation,
    MetricError,
    Usage,
    UsageMeter,
    aevaluate_examples,
    evaluate_examples,
    metering,
    record_usage,
    score_prediction,
)
from stacktune.evaluation import EvaluationPlan, as_score, planned


def run_square(example: int) -> int:
    record_usage(Usage(calls=1, input_tokens=example, output_tokens=1, cost_usd=0.01))
    return example * example


async def arun_square(example: int) -> int:
    return run_square(example)


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
        def run(example: int) -> int:
            if example == 2:
                raise ConnectionError("server went away")
            record_usage(Usage(calls=1))
            return example

        def metric(example: int, prediction: int) -> float:
            if example == 3:
                raise KeyError("label")
            return 1.0

        evaluation = evaluate_examples([1, 2, 3, 4], run, metric)
        assert evaluation.scores == (1.0, 0.0, 0.0, 1.0)
        assert [(f.index, f.error_type) for f in evaluation.failures] == [(1, "ConnectionError"), (2, "KeyError")]
        assert "server went away" in evaluation.failures[0].message

    def test_usage_recorded_before_a_failure_is_the_failed_examples_usage(self) -> None:
        def run(example: int) -> int:
            record_usage(Usage(calls=1, input_tokens=7))
            raise ValueError("could not parse")

        meter = UsageMeter()
        with metering(meter):
            evaluation = evaluate_examples([1, 2], run, is_even)
        assert evaluation.usage.input_tokens == 14 and evaluation.usage.calls == 2
        assert evaluation.n_failures == 2
        assert meter.total.input_tokens == 14, "the budget sees a failed example's tokens too"

    def test_each_example_gets_only_its_own_usage(self) -> None:
        def run(example: int) -> int:
            for _ in range(example):
                record_usage(Usage(calls=1, input_tokens=10))
            return example

        evaluation = evaluate_examples([1, 3, 2], run, is_even, max_concurrency=3)
        assert evaluation.usage.calls == 6 and evaluation.usage.input_tokens == 60
        assert len(evaluation.usage.latencies) == 3

    def test_latency_is_the_sum_of_recorded_call_latencies_else_wall_time(self) -> None:
        def run(example: int) -> int:
            if example:
                record_usage(Usage(calls=1, latencies=(0.25,)))
                record_usage(Usage(calls=1, latencies=(0.5,)))
            else:
                time.sleep(0.02)
            return example

        evaluation = evaluate_examples([1, 0], run, is_even)
        recorded, wall = evaluation.usage.latencies
        assert recorded == 0.75, "a cached answer reports the latency of the call that produced it"
        assert 0.02 <= wall < 5

    def test_an_old_style_run_example_returning_usage_is_a_clear_error(self) -> None:
        evaluation = evaluate_examples([1], lambda example: (example, Usage(calls=1)), is_even)
        assert evaluation.n_failures == 1
        assert "stacktune.record_usage" in evaluation.failures[0].message

    @pytest.mark.parametrize("bad", ["yes", float("nan"), None])
    def test_metric_returning_a_non_number_is_a_failure(self, bad: Any) -> None:
        evaluation = evaluate_examples([1], run_square, lambda e, p: bad)
        assert evaluation.scores == (0.0,)
        assert evaluation.n_failures == 1

    def test_exception_from_on_result_stops_new_calls_and_propagates(self) -> None:
        calls: list[int] = []

        def run(example: int) -> int:
            calls.append(example)
            return example

        def on_result(index: int, score: float) -> None:
            if index == 1:
                raise RuntimeError("prune")

        with pytest.raises(RuntimeError, match="prune"):
            evaluate_examples(list(range(10)), run, is_even, on_result=on_result)
        assert calls == [0, 1]

    def test_keyboard_interrupt_is_not_swallowed(self) -> None:
        def run(example: int) -> int:
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

        def run(example: int) -> int:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.01)
            with lock:
                active -= 1
            return example

        evaluate_examples(list(range(12)), run, is_even, max_concurrency=3)
        assert 1 < peak <= 3

    def test_stop_leaves_the_rest_unstarted(self) -> None:
        started: list[int] = []
        lock = threading.Lock()

        def run(example: int) -> int:
            with lock:
                started.append(example)
            return example

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
        usage = Usage(
            calls=4,
            cache_hits=1,
            input_tokens=30,
            output_tokens=10,
            cached_tokens=10,
            cost_usd=0.4,
            cached_cost_usd=0.1,
        )
        assert (usage.spent_calls, usage.spent_tokens, usage.total_tokens) == (3, 30, 40)
        assert usage.spent_cost_usd == pytest.approx(0.3)

    def test_sum(self) -> None:
        total = Usage.sum([Usage(calls=1, latencies=(0.5,)), Usage(calls=2, latencies=(1.5,))])
        assert total.calls == 3
        assert total.mean_latency == 1.0
        assert total.total_latency == 2.0


class TestScoringRule:
    @pytest.mark.parametrize(("value", "score"), [(True, 1.0), (False, 0.0), (1, 1.0), (0.25, 0.25), (-2, -2.0)])
    def test_bools_and_numbers(self, value: object, score: float) -> None:
        assert as_score(value) == score

    def test_numpy_scalars_score_as_numbers(self) -> None:
        np = pytest.importorskip("numpy")
        assert as_score(np.float32(0.5)) == 0.5
        assert as_score(np.int64(1)) == 1.0
        assert as_score(np.bool_(True)) == 1.0 and as_score(np.bool_(False)) == 0.0
        assert as_score(np.array(0.75)) == 0.75

    @pytest.mark.parametrize(
        ("value", "shown"),
        [(None, "None"), ("yes", "'yes'"), (float("nan"), "NaN"), (float("inf"), "infinite"), ([1], "[1]")],
    )
    def test_anything_else_names_the_metric_and_the_value(self, value: object, shown: str) -> None:
        def exact_match(example: object, prediction: object) -> object:
            return value

        with pytest.raises(MetricError, match=f"metric .*exact_match returned .*{shown}"):
            score_prediction(exact_match, None, None)  # type: ignore[arg-type]

    def test_a_failing_metric_value_fails_only_that_example(self) -> None:
        evaluation = evaluate_examples([1, 2], run_square, lambda e, p: None if e == 1 else 1.0)
        assert evaluation.scores == (0.0, 1.0)
        assert evaluation.failures[0].error_type == "MetricError"
        assert "<lambda>" in evaluation.failures[0].message and "None" in evaluation.failures[0].message


class TestExampleOrder:
    ORDER = (3, 0, 5, 1, 4, 2)

    def test_examples_start_in_the_planned_order_and_land_in_dataset_order(self) -> None:
        ran: list[int] = []
        reported: list[int] = []

        def run(example: int) -> int:
            ran.append(example)
            record_usage(Usage(calls=1, latencies=(example / 10,)))
            if example == 5:
                raise ValueError("bad example")
            return example

        dataset = list(range(6))
        with planned(EvaluationPlan(order=self.ORDER)):
            evaluation = evaluate_examples(
                dataset, run, lambda e, p: float(p), on_result=lambda index, score: reported.append(index)
            )
        assert ran == list(self.ORDER) and reported == list(self.ORDER)
        assert evaluation.scores == (0.0, 1.0, 2.0, 3.0, 4.0, 0.0)
        assert evaluation.usage.latencies == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        assert [f.index for f in evaluation.failures] == [5]

    def test_concurrent_and_async_runners_follow_it_too(self) -> None:
        started: list[int] = []

        def run(example: int) -> int:
            started.append(example)
            return example

        async def arun(example: int) -> int:
            return run(example)

        with planned(EvaluationPlan(order=self.ORDER)):
            evaluate_examples(list(range(6)), run, is_even, max_concurrency=1)
        with planned(EvaluationPlan(order=self.ORDER)):
            asyncio.run(aevaluate_examples(list(range(6)), arun, is_even, max_concurrency=2))
        assert started[:6] == list(self.ORDER) and started[6:] == list(self.ORDER)

    def test_only_the_outer_evaluation_and_the_same_length_follow_it(self) -> None:
        inner: list[int] = []

        def run(example: int) -> int:
            evaluate_examples(list(range(6)), lambda e: inner.append(e) or e, is_even)
            return example

        with planned(EvaluationPlan(order=self.ORDER)):
            evaluate_examples(list(range(6)), run, is_even)
            assert inner[:6] == list(range(6)), "a nested evaluation runs in dataset order"
            seen: list[int] = []
            evaluate_examples(list(range(3)), lambda e: seen.append(e) or e, is_even)
            assert seen == [0, 1, 2], "another dataset ignores the order"

    @pytest.mark.parametrize("mode", ["sequential", "threads", "async"])
    def test_failures_are_reported_as_they_land_before_their_score(self, mode: str) -> None:
        heard: list[tuple[str, int]] = []

        def run(example: int) -> int:
            if example % 3 == 0:
                raise ConnectionError(f"no server for {example}")
            return example

        async def arun(example: int) -> int:
            return run(example)

        def on_result(index: int, score: float) -> None:
            heard.append(("score", index))
            if index == 3:
                raise RuntimeError("stop")

        with (
            planned(EvaluationPlan(on_example=lambda o: o.failure and heard.append(("failure", o.index)))),
            pytest.raises(RuntimeError, match="stop"),
        ):
            if mode == "async":
                asyncio.run(aevaluate_examples(list(range(9)), arun, is_even, on_result=on_result))
            else:
                evaluate_examples(
                    list(range(9)), run, is_even, on_result=on_result, max_concurrency=1 if mode == "sequential" else 2
                )
        assert heard[:2] == [("failure", 0), ("score", 0)]
        assert ("failure", 3) in heard and heard.index(("failure", 3)) == heard.index(("score", 3)) - 1

    def test_an_order_must_be_a_permutation(self) -> None:
        with pytest.raises(ValueError, match="permutation"), planned(EvaluationPlan(order=(0, 0, 1))):
            pass


class TestAsync:
    def test_same_results_as_the_threaded_runner(self) -> None:
        data = list(range(20))
        threaded = evaluate_examples(data, run_square, is_even, max_concurrency=3)
        awaited = asyncio.run(aevaluate_examples(data, arun_square, is_even, max_concurrency=3))
        assert awaited.scores == threaded.scores
        assert awaited.usage.calls == threaded.usage.calls == 20
        assert awaited.usage.input_tokens == threaded.usage.input_tokens

    def test_at_most_max_concurrency_awaited_at_once(self) -> None:
        active = peak = 0

        async def run(example: int) -> int:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.001)
            active -= 1
            return example

        asyncio.run(aevaluate_examples(list(range(12)), run, is_even, max_concurrency=3))
        assert peak == 3

    def test_failures_score_zero_with_their_usage(self) -> None:
        async def run(example: int) -> int:
            record_usage(Usage(calls=1, input_tokens=5))
            if example % 2:
                raise TimeoutError("slow")
            return example

        evaluation = asyncio.run(aevaluate_examples(list(range(4)), run, is_even, max_concurrency=2))
        assert evaluation.scores == (1.0, 0.0, 1.0, 0.0)
        assert [f.index for f in evaluation.failures] == [1, 3]
        assert evaluation.usage.input_tokens == 20

    def test_an_exception_from_on_result_stops_new_examples_and_propagates(self) -> None:
        started: list[int] = []

        async def run(example: int) -> int:
            started.append(example)
            await asyncio.sleep(0)
            return example

        def on_result(index: int, score: float) -> None:
            if index == 1:
                raise RuntimeError("prune")

        with pytest.raises(RuntimeError, match="prune"):
            asyncio.run(aevaluate_examples(list(range(30)), run, is_even, on_result=on_result, max_concurrency=2))
        assert len(started) <= 4

    def test_max_concurrency_must_be_a_positive_int(self) -> None:
        with pytest.raises(ValueError, match="max_concurrency"):
            asyncio.run(aevaluate_examples([1], arun_square, is_even, max_concurrency=0))


class TestPlanStop:
    """The plan's stop: start nothing more, let what is in flight land and be reported, then raise."""

    @pytest.mark.parametrize("mode", ["sequential", "threads", "async"])
    def test_what_is_in_flight_lands_before_the_stop_is_raised(self, mode: str) -> None:
        started: list[int] = []
        landed: list[int] = []
        lock = threading.Lock()
        decision: list[BaseException] = []

        def run(example: int) -> int:
            with lock:
                started.append(example)
            time.sleep(0.005)
            return example

        async def arun(example: int) -> int:
            with lock:
                started.append(example)
            await asyncio.sleep(0.005)
            return example

        def on_example(outcome: Any) -> None:
            landed.append(outcome.index)
            if len(landed) == 3:
                decision.append(RuntimeError("raced out"))

        plan = EvaluationPlan(on_example=on_example, stop=lambda: decision[0] if decision else None)
        with planned(plan), pytest.raises(RuntimeError, match="raced out"):
            if mode == "async":
                asyncio.run(aevaluate_examples(list(range(40)), arun, is_even, max_concurrency=4))
            else:
                evaluate_examples(list(range(40)), run, is_even, max_concurrency=1 if mode == "sequential" else 4)
        assert plan.followed
        assert sorted(landed) == sorted(started), "every example started was reported: nothing thrown away"
        assert len(started) <= 3 + (0 if mode == "sequential" else 4)

    @pytest.mark.parametrize("mode", ["threads", "async"])
    def test_in_flight_limits_how_many_examples_run_at_once(self, mode: str) -> None:
        active = peak_late = 0
        lock = threading.Lock()
        done = [0]

        def enter() -> None:
            nonlocal active, peak_late
            with lock:
                active += 1
                if done[0] >= 10:
                    peak_late = max(peak_late, active)

        def leave() -> None:
            nonlocal active
            with lock:
                active -= 1
                done[0] += 1

        def run(example: int) -> int:
            enter()
            time.sleep(0.003)
            leave()
            return example

        async def arun(example: int) -> int:
            enter()
            await asyncio.sleep(0.003)
            leave()
            return example

        plan = EvaluationPlan(in_flight=lambda: 6 if done[0] < 6 else 1)
        with planned(plan):
            if mode == "async":
                asyncio.run(aevaluate_examples(list(range(30)), arun, is_even, max_concurrency=6))
            else:
                evaluate_examples(list(range(30)), run, is_even, max_concurrency=6)
        assert peak_late == 1, "once the plan says one, one at a time"
