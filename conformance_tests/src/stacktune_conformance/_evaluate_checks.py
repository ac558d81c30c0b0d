"""Checks on ``evaluate``: scores, on_result, usage, stopping, failures, concurrency."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from stacktune import Usage
from stacktune_conformance._base import SuiteBase
from stacktune_conformance._recording import ConformanceStop, RecordingMetric, ResultLog, same_scores
from stacktune_conformance.faults import FaultServer

CONCURRENCY = 4
#: The ``at_fault_server`` fixture's client must time out after at most this many seconds (per attempt).
FAULT_TIMEOUT = 1.0
#: How long one example may take against a hanging server: the timeout, a few retries, slack for a busy machine.
FAULT_EXAMPLE_LIMIT = 15.0
# Public since pytest 8.4; it subclasses LookupError on every version.
_FixtureLookupError: type[Exception] = getattr(pytest, "FixtureLookupError", LookupError)


def _check_failures(evaluation: Any, expected_index: int, baseline: Sequence[float], n: int) -> None:
    failed = [f.index for f in evaluation.failures]
    assert failed == [expected_index], f"expected exactly one failure, at index {expected_index}; got {failed}"
    assert len(evaluation.scores) == n, f"every example must get a score; got {len(evaluation.scores)} of {n}"
    assert evaluation.scores[expected_index] == 0.0, "a failed example scores 0"
    others = [(i, s) for i, s in enumerate(evaluation.scores) if i != expected_index]
    assert same_scores([s for _, s in others], [baseline[i] for i, _ in others]), (
        f"the other examples must still run and score as before: {evaluation.scores} vs {tuple(baseline)}"
    )
    assert evaluation.is_consistent(), "score must stay the mean of the per-example scores (failures count as 0)"


class EvaluateChecks(SuiteBase):
    def test_evaluate_score_is_mean_of_metric_scores(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """``evaluate`` calls the metric once per example, keeps what it returned as the per-example
        scores (one per example), and its score is their mean."""
        evaluation, spy, _ = self.spied_evaluate(optimizable, dataset, metric)
        assert len(evaluation.scores) == len(dataset), (
            f"{len(evaluation.scores)} per-example scores for {len(dataset)} examples"
        )
        assert spy.calls == len(dataset), f"the metric was called {spy.calls} times for {len(dataset)} examples"
        assert sorted(spy.values) == pytest.approx(sorted(evaluation.scores)), (
            f"per-example scores {evaluation.scores} are not what the metric returned {spy.values}"
        )
        mean = sum(evaluation.scores) / len(evaluation.scores)
        assert math.isclose(evaluation.score, mean, rel_tol=1e-9, abs_tol=1e-12), (
            f"score {evaluation.score} is not the mean {mean} of {evaluation.scores}"
        )

    def test_evaluate_calls_on_result_once_per_example(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """``on_result(index, score)`` is called exactly once per example, with the example's index in
        the dataset and the same score the Evaluation reports for it."""
        evaluation, _, log = self.spied_evaluate(optimizable, dataset, metric)
        assert sorted(log.indices) == list(range(len(dataset))), f"on_result indices: {log.indices}"
        for index, score in log.results:
            assert score == pytest.approx(evaluation.scores[index]), (
                f"on_result({index}, {score}) but the Evaluation says {evaluation.scores[index]}"
            )

    def test_evaluate_usage_adds_up(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """The Usage is plausible: one latency per example (non-negative), at least one LLM call per
        example, non-negative tokens and cost, and cached parts no larger than the totals."""
        evaluation, _, _ = self.spied_evaluate(optimizable, dataset, metric)
        usage, n = evaluation.usage, len(dataset)
        assert isinstance(usage, Usage)
        assert len(usage.latencies) == n, f"{len(usage.latencies)} latencies for {n} examples"
        assert all(math.isfinite(x) and x >= 0 for x in usage.latencies), f"latencies: {usage.latencies}"
        assert usage.calls >= n, f"{usage.calls} calls for {n} examples that ran"
        assert min(usage.input_tokens, usage.output_tokens, usage.cached_tokens) >= 0, usage.summary()
        assert usage.cost_usd >= 0 and usage.cached_cost_usd >= 0, usage.summary()
        assert usage.cache_hits <= usage.calls and usage.unpriced_calls <= usage.calls, usage.summary()
        assert usage.cached_tokens <= usage.total_tokens, usage.summary()
        assert usage.cached_cost_usd <= usage.cost_usd + 1e-12, usage.summary()

    def test_on_result_exception_stops_and_propagates(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """An exception raised by ``on_result`` (how a study prunes) reaches the caller; run
        sequentially, no example starts after it (fewer metric calls than examples), and
        ``on_result`` is not called again, also with concurrency."""
        assert len(dataset) >= 2, "this check needs a dataset of at least two examples"
        for concurrency in (1, CONCURRENCY):
            spy, log = RecordingMetric(metric), ResultLog(raise_on_call=1)
            with pytest.raises(ConformanceStop):
                optimizable.evaluate(dataset, spy, on_result=log, max_concurrency=concurrency)
            assert len(log.results) == 1, (
                f"max_concurrency={concurrency}: on_result was called again after it raised: {log.results}"
            )
            if concurrency == 1:
                assert spy.calls < len(dataset), (
                    f"the evaluation went on after on_result raised: the metric ran {spy.calls} times "
                    f"for {len(dataset)} examples"
                )

    def test_failing_metric_counts_as_failure(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """When the metric raises on one example, that example counts as a failure scoring 0
        (``Evaluation.failures``), nothing propagates, and every other example still runs and scores."""
        baseline = self.scores_of(optimizable, dataset, metric)
        evaluation, spy, log = self.spied_evaluate(optimizable, dataset, metric, fail_metric_call=1)
        assert spy.calls == len(dataset), f"the metric ran {spy.calls} times for {len(dataset)} examples"
        assert sorted(log.indices) == list(range(len(dataset))), f"on_result indices: {log.indices}"
        _check_failures(evaluation, log.indices[0], baseline, len(dataset))

    def test_failing_target_counts_as_failure(
        self,
        request: pytest.FixtureRequest,
        optimizable: Any,
        dataset: Sequence[Any],
        metric: Callable[[Any, Any], Any],
    ) -> None:
        """When the target raises on one example (the optional ``failing_example`` fixture, inserted
        second), that example counts as a failure scoring 0 and every other example still runs."""
        try:
            bad = request.getfixturevalue("failing_example")
        except _FixtureLookupError:
            pytest.skip("no `failing_example` fixture (an example the target raises on): target failures not checked")
        baseline = list(self.scores_of(optimizable, dataset, metric))
        poisoned = [dataset[0], bad, *dataset[1:]]
        evaluation, _, log = self.spied_evaluate(optimizable, poisoned, metric)
        assert sorted(log.indices) == list(range(len(poisoned))), f"on_result indices: {log.indices}"
        _check_failures(evaluation, 1, [baseline[0], 0.0, *baseline[1:]], len(poisoned))

    def test_failed_calls_are_counted_and_never_hang(
        self, request: pytest.FixtureRequest, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """Against the fault server (the optional ``at_fault_server`` fixture: ``base_url`` -> an Optimizable
        whose client times out within ``FAULT_TIMEOUT``): every example of a server answering 500 is a
        failure whose calls are counted (``Usage.failed_calls``), and a hanging server cannot hold an
        example past ``FAULT_EXAMPLE_LIMIT`` seconds."""
        try:
            at_fault_server = request.getfixturevalue("at_fault_server")
        except _FixtureLookupError:
            pytest.skip("no `at_fault_server` fixture (base_url -> Optimizable): failing servers not checked")
        examples = list(dataset[:2])
        with FaultServer(mode="500") as server:
            evaluation = at_fault_server(server.url).evaluate(examples, metric)
            assert [f.index for f in evaluation.failures] == [0, 1], f"failures: {evaluation.failures}"
            usage = evaluation.usage
            assert usage.failed_calls >= len(examples), f"failed calls not counted: {usage}"
            assert usage.calls >= usage.failed_calls and server.requests >= len(examples)
            server.mode = "hang"
            start = time.monotonic()
            hung = at_fault_server(server.url).evaluate(examples[:1], metric)
            took = time.monotonic() - start
        assert took < FAULT_EXAMPLE_LIMIT, f"one example against a hanging server took {took:.1f}s"
        assert len(hung.failures) == 1 and hung.usage.failed_calls >= 1, f"{hung.failures}, {hung.usage}"

    def test_concurrent_evaluation_matches_sequential(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """``max_concurrency > 1`` gives the same per-example scores, in dataset order, as a sequential
        run, and still one ``on_result`` per example."""
        sequential = self.scores_of(optimizable, dataset, metric)
        evaluation, _, log = self.spied_evaluate(optimizable, dataset, metric, max_concurrency=CONCURRENCY)
        assert same_scores(evaluation.scores, sequential), (
            f"max_concurrency={CONCURRENCY} gave {evaluation.scores}, sequential gave {sequential}"
        )
        assert sorted(log.indices) == list(range(len(dataset))), f"on_result indices: {log.indices}"
