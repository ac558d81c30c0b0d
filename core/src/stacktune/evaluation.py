"""Running examples: the per-example contract every adapter shares, written once.

Adapters hand :func:`evaluate_examples` (threads) or :func:`aevaluate_examples` (asyncio)
one function that runs one example and returns its prediction, reporting what each LLM
call cost with :func:`~stacktune.record_usage`. The runner gives them the protocol's
guarantees:

- **scoring**: :func:`score_prediction` turns the metric's value into a float, one rule for
  everyone (bools are 0/1; None, NaN, infinities and non-numbers fail the example with a
  message naming the metric and the value);
- **failures**: an example whose program or metric raises scores 0, is counted in the
  Evaluation with its error, and is paid for (its usage was recorded as it was spent);
- **latency**: an example's latency is the sum of the call latencies the adapter recorded
  (a cached answer reports the latency of the call that produced it), else its wall time;
- **results as they land**: ``on_result(index, score)`` is called once per example, with the
  example's index in the dataset; when it raises (the study stops the trial), no new example
  starts, those in flight finish, and the exception propagates;
- **order**: the study may ask for the examples to be started in a given order
  and to hear of each failed example (:func:`planned`); indices and the Evaluation stay in
  dataset order;
- **predictions, a sample**: a short text of the prediction of each of the first
  :data:`PREDICTION_SAMPLE` examples (dataset indices) is kept in the Evaluation, so a report can
  show what a configuration answered. The same indices in every trial make trials comparable
  example by example, and the bound keeps a study of thousands of trials small.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import numbers
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stacktune.errors import MetricError
from stacktune.texts import stored_text
from stacktune.usage import Usage, example_usage

#: ``metric(example, prediction)``: a float (or bool) where higher is better.
Metric = Callable[[Any, Any], "float | bool"]

#: ``on_result(index, score)``: called once per finished example; raising stops the evaluation.
ResultCallback = Callable[[int, float], None]

#: ``run_example(example) -> prediction``; usage goes through :func:`~stacktune.record_usage`.
RunExample = Callable[[Any], Any]

#: The asyncio form of :data:`RunExample`.
ARunExample = Callable[[Any], Awaitable[Any]]

#: The predictions of the first this-many examples (dataset indices) are kept, as short texts.
PREDICTION_SAMPLE = 50
#: Characters kept of each prediction: at most 50 x 100 characters per trial.
PREDICTION_CHARS = 100


def prediction_text(prediction: object) -> str:
    """The short text kept of a prediction (through :func:`~stacktune.texts.stored_text`)."""
    return stored_text(prediction, PREDICTION_CHARS)


class ExampleFailure(BaseModel):
    """One example whose target or metric raised: it scored 0."""

    model_config = ConfigDict(frozen=True)

    index: int
    error_type: str
    message: str


class EvaluationSummary(BaseModel):
    """An Evaluation in a few numbers: what a trial's record keeps and tables show."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    score: float = 0.0
    n_examples: int = 0
    n_failures: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    cache_hits: int = 0
    spent_calls: int = 0
    spent_tokens: int = 0
    spent_cost_usd: float = 0.0
    mean_latency: float = 0.0

    @property
    def tokens_per_example(self) -> float:
        return self.total_tokens / self.n_examples if self.n_examples else 0.0

    @classmethod
    def landed(cls, scores: Sequence[float], n_failures: int, usage: Usage) -> EvaluationSummary:
        """The examples a stopped trial evaluated before it stopped, and what they cost."""
        mean = sum(scores) / len(scores) if scores else 0.0
        return cls(score=mean, n_examples=len(scores), n_failures=n_failures, **usage.summary())


class Evaluation(BaseModel):
    """The result of running a target over a dataset: mean score, per-example scores, usage."""

    model_config = ConfigDict(frozen=True)

    score: float
    scores: tuple[float, ...]
    usage: Usage = Field(default_factory=Usage)
    failures: tuple[ExampleFailure, ...] = ()
    predictions: tuple[str | None, ...] = Field(
        default=(),
        description="short texts of the predictions of the first PREDICTION_SAMPLE examples, dataset order; "
        "None where the program raised",
    )

    @classmethod
    def from_scores(
        cls,
        scores: Sequence[float],
        usage: Usage | None = None,
        failures: Sequence[ExampleFailure] = (),
        predictions: Sequence[str | None] = (),
    ) -> Evaluation:
        values = tuple(float(s) for s in scores)
        mean = sum(values) / len(values) if values else 0.0
        return cls(
            score=mean,
            scores=values,
            usage=usage or Usage(),
            failures=tuple(failures),
            predictions=tuple(predictions[:PREDICTION_SAMPLE]),
        )

    @property
    def n_examples(self) -> int:
        return len(self.scores)

    @property
    def n_failures(self) -> int:
        return len(self.failures)

    def summary(self) -> EvaluationSummary:
        return EvaluationSummary(
            score=self.score, n_examples=self.n_examples, n_failures=self.n_failures, **self.usage.summary()
        )

    def is_consistent(self) -> bool:
        """Score is the mean of the per-example scores (what the conformance suite checks)."""
        if not self.scores:
            return self.score == 0.0
        return math.isclose(self.score, sum(self.scores) / len(self.scores), rel_tol=1e-9, abs_tol=1e-12)


# -- the scoring rule --------------------------------------------------------------------
def _metric_name(metric: object) -> str:
    name = getattr(metric, "__qualname__", None) or getattr(metric, "__name__", None)
    return str(name) if name else repr(metric)


def as_score(value: object, metric: object = None) -> float:
    """The metric's value as a score: bools are 0/1, numbers (NumPy's too) floats; anything else fails.

    Raises :class:`~stacktune.MetricError` naming the metric and the value for None, NaN,
    an infinity, a string or any other non-number.
    """
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":  # np.float32, np.bool_, 0-d arrays
        value = item()
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, numbers.Real):
        score = float(value)
        if math.isfinite(score):
            return score
        problem = "NaN" if math.isnan(score) else "an infinite value"
        raise MetricError(
            f"metric {_metric_name(metric)} returned {problem} ({value!r}); a metric must "
            f"return a finite number or a bool"
        )
    raise MetricError(
        f"metric {_metric_name(metric)} returned {value!r} ({type(value).__name__}); a metric must "
        f"return a number or a bool"
    )


def score_prediction(metric: Metric, example: Any, prediction: Any) -> float:
    """``metric(example, prediction)`` as a score (see :func:`as_score`)."""
    return as_score(metric(example, prediction), metric)


# -- what the study asks of the next evaluation ---------------------------------------------------
FailureCallback = Callable[["ExampleFailure"], None]


class _Plan:
    def __init__(self, order: tuple[int, ...] | None, on_failure: FailureCallback | None) -> None:
        self.order = order
        self.on_failure = on_failure


_PLAN: contextvars.ContextVar[_Plan | None] = contextvars.ContextVar("stacktune_evaluation_plan", default=None)


@contextmanager
def planned(*, order: Sequence[int] | None = None, on_failure: FailureCallback | None = None) -> Iterator[None]:
    """Ask the runner, for the next evaluation, to start the examples in ``order`` and report failures.

    The study uses it to give each raced trial its own order without permuting the dataset
    (indices reported to ``on_result`` and the Evaluation stay in dataset order), and to learn
    of failed examples as they land (``on_failure(failure)``, before ``on_result``), even in a
    trial stopped early. Only the first evaluation run in this context follows the plan, not one
    nested inside it; an evaluation of a dataset of another length ignores the order.
    """
    planned_order = tuple(order) if order is not None else None
    if planned_order is not None and sorted(planned_order) != list(range(len(planned_order))):
        raise ValueError(
            f"an example order must be a permutation of 0..{len(planned_order) - 1}, got {planned_order[:10]}..."
        )
    token = _PLAN.set(_Plan(planned_order, on_failure))
    try:
        yield
    finally:
        _PLAN.reset(token)


@contextmanager
def _take_plan(n: int) -> Iterator[tuple[Sequence[int], FailureCallback | None]]:
    """The plan for a dataset of ``n`` (dataset order, no failure callback by default); nested ones see none."""
    plan = _PLAN.get()
    token = _PLAN.set(None)
    try:
        order: Sequence[int] = range(n)
        if plan is not None and plan.order is not None and len(plan.order) == n:
            order = plan.order
        yield order, plan.on_failure if plan is not None else None
    finally:
        _PLAN.reset(token)


# -- one example ---------------------------------------------------------------------------
#: score, usage, failure, and the prediction's text (examples of the sample only)
_Outcome = tuple[float, Usage, "ExampleFailure | None", "str | None"]


def _prediction_of(returned: Any) -> Any:
    if isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[1], Usage):
        raise TypeError(
            "run_example returned (prediction, Usage): return the prediction and report usage with "
            "stacktune.record_usage(...) as it is spent"
        )
    return returned


class _Answer:
    """What one example answered: its prediction's text (in the sample), once there is a prediction."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.text: str | None = None

    def keep(self, returned: Any) -> Any:
        prediction = _prediction_of(returned)
        if self.index < PREDICTION_SAMPLE:
            self.text = prediction_text(prediction)
        return prediction


def _outcome(answer: _Answer, spent: Usage, started: float, score: float, error: Exception | None) -> _Outcome:
    latency = sum(spent.latencies) if spent.latencies else time.perf_counter() - started
    usage = spent.model_copy(update={"latencies": (latency,)})
    if error is None:
        return score, usage, None, answer.text
    failure = ExampleFailure(index=answer.index, error_type=type(error).__name__, message=str(error)[:500])
    return 0.0, usage, failure, answer.text


def _run_one(index: int, example: Any, run_example: RunExample, metric: Metric) -> _Outcome:
    started = time.perf_counter()
    answer = _Answer(index)
    with example_usage() as spent:
        try:
            score = score_prediction(metric, example, answer.keep(run_example(example)))
        except Exception as exc:  # noqa: BLE001 - any failure of one example scores 0, never kills the run
            return _outcome(answer, spent.total, started, 0.0, exc)
    return _outcome(answer, spent.total, started, score, None)


async def _arun_one(index: int, example: Any, arun_example: ARunExample, metric: Metric) -> _Outcome:
    started = time.perf_counter()
    answer = _Answer(index)
    with example_usage() as spent:
        try:
            score = score_prediction(metric, example, answer.keep(await arun_example(example)))
        except Exception as exc:  # noqa: BLE001 - any failure of one example scores 0, never kills the run
            return _outcome(answer, spent.total, started, 0.0, exc)
    return _outcome(answer, spent.total, started, score, None)


class _Results:
    """What has landed, in dataset order; tells ``on_result`` as each example lands."""

    def __init__(self, n: int, on_result: ResultCallback | None, on_failure: FailureCallback | None) -> None:
        self.scores = [0.0] * n
        self.usages = [Usage()] * n
        self.predictions: list[str | None] = [None] * min(n, PREDICTION_SAMPLE)
        self.failures: list[ExampleFailure] = []
        self.on_result = on_result
        self.on_failure = on_failure

    def land(self, index: int, outcome: _Outcome) -> None:
        self.scores[index], self.usages[index], failure, text = outcome
        if index < PREDICTION_SAMPLE:
            self.predictions[index] = text
        if failure is not None:
            self.failures.append(failure)
            if self.on_failure is not None:
                self.on_failure(failure)
        if self.on_result is not None:
            self.on_result(index, self.scores[index])

    def evaluation(self) -> Evaluation:
        failures = sorted(self.failures, key=lambda f: f.index)
        return Evaluation.from_scores(self.scores, Usage.sum(self.usages), failures, self.predictions)


def _check_concurrency(max_concurrency: int) -> None:
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")


# -- the runners ---------------------------------------------------------------------------
def evaluate_examples(
    dataset: Sequence[Any],
    run_example: RunExample,
    metric: Metric,
    *,
    on_result: ResultCallback | None = None,
    max_concurrency: int = 1,
) -> Evaluation:
    """Run ``run_example`` over ``dataset`` in threads and score each prediction with ``metric``.

    At most ``max_concurrency`` examples are in flight; see the module docstring for the rules.
    """
    _check_concurrency(max_concurrency)
    with _take_plan(len(dataset)) as (order, on_failure):
        results = _Results(len(dataset), on_result, on_failure)
        if max_concurrency == 1 or len(dataset) <= 1:
            for index in order:
                results.land(index, _run_one(index, dataset[index], run_example, metric))
        else:
            _run_in_threads(dataset, order, run_example, metric, max_concurrency, results)
    return results.evaluation()


def _run_in_threads(
    dataset: Sequence[Any],
    order: Sequence[int],
    run_example: RunExample,
    metric: Metric,
    workers: int,
    results: _Results,
) -> None:
    pending: dict[Future[_Outcome], int] = {}
    upcoming = iter(order)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stacktune-eval") as pool:

        def submit_next() -> None:
            index = next(upcoming, None)
            if index is not None:
                context = contextvars.copy_context()  # meters (and the study's context) follow the example
                pending[pool.submit(context.run, _run_one, index, dataset[index], run_example, metric)] = index

        for _ in range(workers):
            submit_next()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f]):
                    index = pending.pop(future)
                    results.land(index, future.result())
                    submit_next()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


async def aevaluate_examples(
    dataset: Sequence[Any],
    arun_example: ARunExample,
    metric: Metric,
    *,
    on_result: ResultCallback | None = None,
    max_concurrency: int = 1,
) -> Evaluation:
    """:func:`evaluate_examples` on the event loop: ``max_concurrency`` examples awaited at once."""
    _check_concurrency(max_concurrency)
    stopped: list[BaseException] = []
    with _take_plan(len(dataset)) as (order, on_failure):
        results = _Results(len(dataset), on_result, on_failure)
        upcoming = iter(order)

        async def worker() -> None:
            for index in upcoming:  # shared by the workers: each example starts once
                if stopped:
                    return
                outcome = await _arun_one(index, dataset[index], arun_example, metric)
                if stopped:
                    return  # in flight when another example stopped the evaluation: not reported
                try:
                    results.land(index, outcome)
                except BaseException as exc:  # noqa: BLE001 - re-raised below, once the examples in flight end
                    stopped.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(max(1, min(max_concurrency, len(dataset))))))
    if stopped:
        raise stopped[0]
    return results.evaluation()


__all__ = [
    "ARunExample",
    "Evaluation",
    "EvaluationSummary",
    "ExampleFailure",
    "Metric",
    "PREDICTION_CHARS",
    "PREDICTION_SAMPLE",
    "ResultCallback",
    "RunExample",
    "FailureCallback",
    "aevaluate_examples",
    "as_score",
    "evaluate_examples",
    "planned",
    "prediction_text",
    "score_prediction",
]
