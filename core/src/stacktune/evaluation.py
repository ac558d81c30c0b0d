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
from dataclasses import dataclass
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
    failed_calls: int = 0
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
        """Mean tokens an example used, cached ones included (a column of the CLI's trials table)."""
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
        """An Evaluation whose score is the mean of ``scores`` (0.0 for none): consistent by construction."""
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
        """How many examples were run, failed ones included."""
        return len(self.scores)

    @property
    def n_failures(self) -> int:
        """How many examples raised and scored 0."""
        return len(self.failures)

    def summary(self) -> EvaluationSummary:
        """The few numbers a trial's record keeps: no per-example scores or latencies."""
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
@dataclass(frozen=True)
class ExampleOutcome:
    """One example as it lands: its index in the dataset, score, usage (with its latency) and failure."""

    index: int
    score: float
    usage: Usage
    failure: ExampleFailure | None


@dataclass
class EvaluationPlan:
    """What the study asks of the next evaluation (see :func:`planned`); the runner that follows it says so.

    - ``order``: start the examples in this order (dataset indices);
    - ``on_example``: hear each example as it lands, before ``on_result`` (failures and usage included);
    - ``stop``: asked after each example lands; an exception means "start no new example, let those in
      flight land (they are reported too), then raise it", so what was spent is used;
    - ``in_flight``: how many examples may be in flight now (at most ``max_concurrency``); the race
      lowers it as a trial's odds fall.
    """

    order: tuple[int, ...] | None = None
    on_example: Callable[[ExampleOutcome], None] | None = None
    stop: Callable[[], BaseException | None] | None = None
    in_flight: Callable[[], int] | None = None
    followed: bool = False  # set by the runner that takes the plan

    def limit(self, max_concurrency: int) -> int:
        """How many examples may be in flight now, out of ``max_concurrency``."""
        return max(1, min(max_concurrency, self.in_flight())) if self.in_flight is not None else max_concurrency

    def stop_now(self) -> BaseException | None:
        """The stop decided so far (to raise once what is in flight has landed), or None."""
        return self.stop() if self.stop is not None else None


_PLAN: contextvars.ContextVar[EvaluationPlan | None] = contextvars.ContextVar("stacktune_evaluation_plan", default=None)


@contextmanager
def planned(plan: EvaluationPlan) -> Iterator[EvaluationPlan]:
    """Give the next evaluation this plan (the study gives each trial its own order, hears failures...).

    Indices reported to ``on_result`` and the Evaluation stay in dataset order. Only the first
    evaluation run in this context follows the plan, not one nested inside it; an evaluation of
    a dataset of another length ignores the order. ``plan.followed`` says whether a runner of
    this module took it (an adapter with a loop of its own does not).
    """
    if plan.order is not None and sorted(plan.order) != list(range(len(plan.order))):
        raise ValueError(
            f"an example order must be a permutation of 0..{len(plan.order) - 1}, got {plan.order[:10]}..."
        )
    token = _PLAN.set(plan)
    try:
        yield plan
    finally:
        _PLAN.reset(token)


def current_plan() -> EvaluationPlan | None:
    """The plan the next evaluation in this context would follow (for an adapter with a loop of its own)."""
    return _PLAN.get()


@contextmanager
def _take_plan(n: int) -> Iterator[tuple[Sequence[int], EvaluationPlan]]:
    """The plan for a dataset of ``n`` (dataset order and nothing else by default); nested ones see none."""
    plan = _PLAN.get()
    token = _PLAN.set(None)
    try:
        if plan is None:
            yield range(n), EvaluationPlan()
            return
        plan.followed = True
        yield (plan.order if plan.order is not None and len(plan.order) == n else range(n)), plan
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
    """What has landed, in dataset order; tells the plan and ``on_result`` as each example lands."""

    def __init__(self, n: int, on_result: ResultCallback | None, plan: EvaluationPlan) -> None:
        self.scores = [0.0] * n
        self.usages = [Usage()] * n
        self.predictions: list[str | None] = [None] * min(n, PREDICTION_SAMPLE)
        self.failures: list[ExampleFailure] = []
        self.on_result = on_result
        self.plan = plan

    def land(self, index: int, outcome: _Outcome) -> None:
        self.scores[index], self.usages[index], failure, text = outcome
        if index < PREDICTION_SAMPLE:
            self.predictions[index] = text
        if failure is not None:
            self.failures.append(failure)
        if self.plan.on_example is not None:
            self.plan.on_example(ExampleOutcome(index, self.scores[index], self.usages[index], failure))
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
    with _take_plan(len(dataset)) as (order, plan):
        results = _Results(len(dataset), on_result, plan)
        if max_concurrency == 1 or len(dataset) <= 1:
            for index in order:
                results.land(index, _run_one(index, dataset[index], run_example, metric))
                stop = plan.stop_now()
                if stop is not None:
                    raise stop
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
    plan = results.plan
    stopping: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stacktune-eval") as pool:

        def fill() -> None:
            while stopping is None and len(pending) < plan.limit(workers):
                index = next(upcoming, None)
                if index is None:
                    return
                context = contextvars.copy_context()  # meters (and the study's context) follow the example
                pending[pool.submit(context.run, _run_one, index, dataset[index], run_example, metric)] = index

        fill()
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f]):
                    index = pending.pop(future)
                    results.land(index, future.result())
                    stopping = stopping or plan.stop_now()
                fill()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    if stopping is not None:
        raise stopping  # the examples in flight when the plan said stop have landed: nothing spent is thrown away


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
    stopped: list[BaseException] = []  # on_result raised: the examples in flight are not reported
    stopping: list[BaseException] = []  # the plan said stop: those in flight land, then it is raised
    with _take_plan(len(dataset)) as (order, plan):
        results = _Results(len(dataset), on_result, plan)
        upcoming = iter(order)
        active = 0
        room = asyncio.Condition()

        def has_room() -> bool:
            return bool(stopped or stopping) or active < plan.limit(max_concurrency)

        async def one(index: int) -> None:
            outcome = await _arun_one(index, dataset[index], arun_example, metric)
            if stopped:
                return
            try:
                results.land(index, outcome)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, once the examples in flight end
                stopped.append(exc)
                return
            stop = plan.stop_now()
            if stop is not None and not stopping:
                stopping.append(stop)

        async def worker() -> None:
            nonlocal active
            for index in upcoming:  # shared by the workers: each example starts once
                async with room:
                    await room.wait_for(has_room)
                    if stopped or stopping:
                        return
                    active += 1
                try:
                    await one(index)
                finally:
                    async with room:
                        active -= 1
                        room.notify_all()

        await asyncio.gather(*(worker() for _ in range(max(1, min(max_concurrency, len(dataset))))))
    if stopped or stopping:
        raise (stopped or stopping)[0]
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
    "EvaluationPlan",
    "ExampleOutcome",
    "aevaluate_examples",
    "current_plan",
    "as_score",
    "evaluate_examples",
    "planned",
    "prediction_text",
    "score_prediction",
]
