"""Running examples for an adapter: concurrency, failures, on_result and live usage.

Adapters hand :func:`evaluate_examples` one function that runs one example; it gives
them the protocol's guarantees for free: failures score 0 and are counted, each score
is reported as it lands, an exception from ``on_result`` stops new calls and
propagates, and per-example usage reaches the active :class:`UsageMeter` (how a
study enforces its budget within one example per worker).
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from stacktune.protocol import Evaluation, ExampleFailure, Metric, ResultCallback, Usage

#: ``run_example(example) -> (prediction, usage)``; usage without latencies gets the wall time.
RunExample = Callable[[Any], "tuple[Any, Usage]"]


class UsageMeter:
    """A thread-safe running total of usage, fed example by example."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()
        self._listeners: list[Callable[[Usage], None]] = []

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + Usage(**{**usage.model_dump(), "latencies": ()})
            listeners = list(self._listeners)
        for listener in listeners:
            listener(usage)

    @property
    def total(self) -> Usage:
        with self._lock:
            return self._total

    def subscribe(self, listener: Callable[[Usage], None]) -> None:
        with self._lock:
            self._listeners.append(listener)


_ACTIVE_METERS: contextvars.ContextVar[tuple[UsageMeter, ...]] = contextvars.ContextVar(
    "stacktune_usage_meters", default=()
)


@contextmanager
def metering(meter: UsageMeter) -> Iterator[UsageMeter]:
    """Make ``meter`` receive every usage recorded in this context (and its worker threads)."""
    token = _ACTIVE_METERS.set(_ACTIVE_METERS.get() + (meter,))
    try:
        yield meter
    finally:
        _ACTIVE_METERS.reset(token)


def record_usage(usage: Usage) -> None:
    """Tell the active meters about usage as it is spent (adapters not using evaluate_examples)."""
    for meter in _ACTIVE_METERS.get():
        meter.add(usage)


def _score(metric: Metric, example: Any, prediction: Any) -> float:
    value = metric(example, prediction)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float)):
        raise TypeError(f"metric returned {value!r} ({type(value).__name__}); it must return a float or bool")
    score = float(value)
    if math.isnan(score):
        raise ValueError("metric returned NaN")
    return score


def _run_one(index: int, example: Any, run_example: RunExample, metric: Metric
             ) -> tuple[float, Usage, ExampleFailure | None]:
    start = time.perf_counter()
    usage = Usage()
    try:
        prediction, usage = run_example(example)
        score = _score(metric, example, prediction)
        failure = None
    except Exception as exc:  # noqa: BLE001 - any failure of one example scores 0, never kills the run
        score = 0.0
        usage = getattr(exc, "usage", None) or usage
        failure = ExampleFailure(index=index, error_type=type(exc).__name__, message=str(exc)[:500])
    if not usage.latencies:
        usage = usage.model_copy(update={"latencies": (time.perf_counter() - start,)})
    record_usage(usage)
    return score, usage, failure


def evaluate_examples(dataset: Sequence[Any], run_example: RunExample, metric: Metric, *,
                      on_result: ResultCallback | None = None, max_concurrency: int = 1) -> Evaluation:
    """Run ``run_example`` over ``dataset`` and score each prediction with ``metric``.

    With ``max_concurrency > 1`` at most that many examples are in flight; when
    ``on_result`` raises, no new example starts, those in flight finish, and the
    exception propagates.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
    n = len(dataset)
    scores: list[float] = [0.0] * n
    usages: list[Usage] = [Usage()] * n
    failures: list[ExampleFailure] = []

    def land(index: int, result: tuple[float, Usage, ExampleFailure | None]) -> None:
        scores[index], usages[index], failure = result
        if failure is not None:
            failures.append(failure)
        if on_result is not None:
            on_result(index, scores[index])

    if max_concurrency == 1 or n <= 1:
        for index, example in enumerate(dataset):
            land(index, _run_one(index, example, run_example, metric))
    else:
        _run_concurrently(dataset, run_example, metric, max_concurrency, land)
    failures.sort(key=lambda f: f.index)
    return Evaluation.from_scores(scores, Usage.sum(usages), failures)


def _run_concurrently(dataset: Sequence[Any], run_example: RunExample, metric: Metric, workers: int,
                      land: Callable[[int, tuple[float, Usage, ExampleFailure | None]], None]) -> None:
    pending: dict[Future[tuple[float, Usage, ExampleFailure | None]], int] = {}
    upcoming = iter(enumerate(dataset))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stacktune-eval") as pool:
        def submit_next() -> bool:
            item = next(upcoming, None)
            if item is None:
                return False
            index, example = item
            context = contextvars.copy_context()
            pending[pool.submit(context.run, _run_one, index, example, run_example, metric)] = index
            return True

        for _ in range(workers):
            if not submit_next():
                break
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f]):
                    index = pending.pop(future)
                    land(index, future.result())
                    submit_next()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


__all__ = ["RunExample", "UsageMeter", "evaluate_examples", "metering", "record_usage"]
