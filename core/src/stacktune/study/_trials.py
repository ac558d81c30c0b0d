"""The trial loop of one ``optimize`` call.

Each worker thread claims a trial, asks Optuna for a configuration that meets the space's
constraints, applies it, evaluates it and tells Optuna how it ended, storing one
:class:`~stacktune.records.TrialRecord`. While a trial runs, each example's score passes
through a short chain of *stoppers* (the run's end: Ctrl-C/SIGTERM, the timeout and the
budget; Optuna's pruner; the race); any of them ends the trial early by raising, and the
runner then starts no new example.

Failures are judged here too: a trial whose examples all failed (a dead server, a missing
key, a broken metric) is a failed trial with the first error, and several of them in a row
stop the run with that error as its reason, instead of burning through every trial.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from stacktune.errors import BudgetError, BudgetExhausted, InvalidConfiguration, RunStopped, Terminated, TimeoutReached
from stacktune.evaluation import Evaluation, EvaluationSummary, ExampleFailure, Metric, ResultCallback, planned
from stacktune.objectives import Objective
from stacktune.protocol import Optimizable, SupportsAsyncEvaluate
from stacktune.racing import Lane, Race
from stacktune.readable import ReadableSpace
from stacktune.records import BASELINE_ATTR, MAX_RECORDED_FAILURES, TrialRecord
from stacktune.space import Configuration, Space
from stacktune.study._heartbeat import Heartbeat, reclaim_stale_trials
from stacktune.study._progress import TrialProgress
from stacktune.study.budget import Budget
from stacktune.usage import UsageMeter, metering

logger = logging.getLogger("stacktune")

#: Observers of finished trials, Optuna's callback signature (the plugin hook is one of them).
Observer = Callable[[optuna.Study, FrozenTrial], None]

_MAX_CONSECUTIVE_REJECTIONS = 200

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """When a run stops: its trials, its clock, its budget, and how many failed trials in a row it bears."""

    n_trials: int | None = None
    deadline: float | None = None  # time.monotonic()
    budget: Budget | None = None
    failed_trials_in_a_row: int = 3
    grace_period: float = 60.0  # seconds without a heartbeat before a RUNNING trial is reclaimed


#: A trial where more than this share of the examples failed says so (in its record and the progress line).
FAILURE_SHARE_TO_REPORT = 0.2


# -- the examples of one trial, and the stoppers that watch them ---------------------------------
class Landed:
    """The scores of one trial's examples, in dataset order, as they land."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.scores: dict[int, float] = {}
        self.failures: list[ExampleFailure] = []
        self._lock = threading.Lock()

    def add(self, index: int, score: float) -> None:
        with self._lock:
            self.scores[index] = score

    def fail(self, failure: ExampleFailure) -> None:
        with self._lock:
            self.failures.append(failure)

    @property
    def all_failed(self) -> bool:
        """Every example that landed failed (and at least one landed)."""
        return bool(self.failures) and len(self.failures) >= len(self.scores)

    @property
    def done(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        with self._lock:
            return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0

    def in_dataset_order(self) -> list[float | None]:
        with self._lock:
            return [self.scores.get(i) for i in range(self.n)]


class Stopper(Protocol):
    """Looks at each landed example and raises to end the trial."""

    def check(self, landed: Landed, index: int, score: float) -> None: ...


class RunEndStopper:
    """Ends the trial when the run ends: Ctrl-C or SIGTERM elsewhere in the process, or the timeout."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def check(self, landed: Landed, index: int, score: float) -> None:
        if self.run.terminated.is_set():
            raise Terminated("the process was asked to stop")
        deadline = self.run.limits.deadline
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutReached("timeout reached")


class BudgetStopper:
    """Ends the trial (and the run) once the budget is spent: within one example per concurrent slot."""

    def __init__(self, budget: Budget, meter: UsageMeter) -> None:
        self.budget = budget
        self.meter = meter

    def check(self, landed: Landed, index: int, score: float) -> None:
        spent = self.meter.total
        self.budget.check_enforceable(spent)
        reason = self.budget.exhausted_by(spent)
        if reason:
            raise BudgetExhausted(reason)


class PrunerStopper:
    """Reports each example to Optuna's pruner and ends the trial when it says so.

    WilcoxonPruner compares per-example scores at their dataset index; the others see the
    running mean after each example.
    """

    def __init__(self, trial: optuna.Trial, *, per_example: bool) -> None:
        self.trial = trial
        self.per_example = per_example

    def check(self, landed: Landed, index: int, score: float) -> None:
        if self.per_example:
            self.trial.report(score, step=index)
        else:
            self.trial.report(landed.mean, step=landed.done)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after {landed.done} of {landed.n} examples (mean {landed.mean:.3f})")


class RaceStopper:
    """Ends the trial once the race says it is unlikely to beat the incumbent (decided in memory)."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane

    def check(self, landed: Landed, index: int, score: float) -> None:
        if self.lane.add(index, score):
            raise optuna.TrialPruned(
                f"raced out after {landed.done} of {landed.n} examples (estimated score "
                f"{self.lane.estimate():.3f}, P(beats the best) {self.lane.probability:.3f})"
            )


# -- running an evaluation -------------------------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    """One event loop for every trial of the process, on a daemon thread of its own.

    Async clients outlive a trial: LangChain's OpenAI models share one cached httpx client,
    bound to the loop it first ran on. A loop per trial (``asyncio.run``) would leave it bound
    to a closed loop from the second trial on ("Event loop is closed").
    """
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="stacktune-async", daemon=True).start()
        return _loop


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code (even inside a running loop: a notebook).

    It runs on the process's stacktune loop, in the caller's context (the study's meters and
    example order go with it); interrupting the caller cancels it.
    """
    future = asyncio.run_coroutine_threadsafe(coroutine, _background_loop())  # the task copies our context
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


def evaluate_candidate(
    candidate: Optimizable, dataset: Sequence[Any], metric: Metric, on_result: ResultCallback, max_concurrency: int
) -> Evaluation:
    """``aevaluate`` when the adapter has it (its framework's own async calls), else ``evaluate``."""
    if isinstance(candidate, SupportsAsyncEvaluate):
        evaluation = run_coroutine(
            candidate.aevaluate(dataset, metric, on_result=on_result, max_concurrency=max_concurrency)
        )
    else:
        evaluation = candidate.evaluate(dataset, metric, on_result=on_result, max_concurrency=max_concurrency)
    if not isinstance(evaluation, Evaluation):
        raise TypeError(f"evaluate() returned {type(evaluation).__name__}, not a stacktune.Evaluation")
    return evaluation


def objective_values(objectives: Sequence[Objective], evaluation: Evaluation) -> list[float]:
    values = [objective(evaluation) for objective in objectives]
    bad = [o.name for o, v in zip(objectives, values, strict=True) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"objective(s) {bad} gave a non-finite value: {values}")
    return values


# -- the run -----------------------------------------------------------------------------------------
class Run:
    """The state of one ``optimize`` call, shared by its worker threads."""

    def __init__(
        self,
        optuna_study: optuna.Study,
        objectives: Sequence[Objective],
        program: Optimizable,
        space: Space,
        dataset: Sequence[Any],
        metric: Metric,
        *,
        limits: Limits,
        race: Race | None,
        pruner: optuna.pruners.BasePruner | None,
        max_concurrency: int,
        observers: Sequence[Observer],
        catch_trial_errors: bool,
        stop_requested: threading.Event,
        progress: TrialProgress,
        baseline: Configuration | None = None,
    ) -> None:
        self.optuna_study = optuna_study
        self.baseline = baseline  # queued as the first trial this run asks for
        self.objectives = tuple(objectives)
        self.program = program
        self.space = space
        self.readable = ReadableSpace.of(space)  # the configuration in words, for optuna-dashboard
        self.dataset = dataset
        self.metric = metric
        self.limits = limits
        self.race = race
        self.pruner = pruner
        self.max_concurrency = max_concurrency
        self.observers = tuple(observers)
        self.catch_trial_errors = catch_trial_errors
        self.stop_requested = stop_requested
        self.progress = progress
        self.meter = UsageMeter()
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.terminated = threading.Event()  # SIGTERM or Ctrl-C: trials in flight stop and are stored failed
        self.heartbeat = Heartbeat(optuna_study._storage, interval=max(0.05, min(10.0, limits.grace_period / 4)))
        self.started = 0
        self.rejections = 0
        self.failed_in_a_row = 0
        self.last_reclaim = 0.0
        self.logged_failures: set[str] = set()
        self.stop_reason: str | None = None

    # -- when to stop --------------------------------------------------------------------------------
    def worker(self) -> None:
        """Run trials until the run must stop (one worker thread's loop)."""
        with metering(self.meter):
            while self._claim_trial():
                self._one_trial()

    def stop(self, reason: str, *, halt: bool = False) -> None:
        with self.lock:
            self.stop_reason = self.stop_reason or reason
        if halt:
            self.halt.set()

    def terminate(self) -> None:
        """Ctrl-C or SIGTERM: start nothing more; trials in flight stop at their next example, stored failed."""
        self.stop("interrupted", halt=True)
        self.terminated.set()

    def _claim_trial(self) -> bool:
        self._reclaim_stale_trials()
        with self.lock:
            reason = self._stop_reason()
            if reason:
                self.stop_reason = self.stop_reason or reason
                return False
            self.started += 1
            return True

    def _reclaim_stale_trials(self) -> None:
        """Trials of dead processes on this study fail and run again (checked every heartbeat interval)."""
        now = time.monotonic()
        with self.lock:
            if now - self.last_reclaim < self.heartbeat.interval:
                return
            self.last_reclaim = now
        reclaim_stale_trials(self.optuna_study, self.limits.grace_period)

    def _stop_reason(self) -> str | None:
        limits = self.limits
        if self.halt.is_set():
            return self.stop_reason or "halted"
        if self.stop_requested.is_set():
            return "stop() was called"
        if limits.n_trials is not None and self.started >= limits.n_trials:
            return f"{limits.n_trials} trials done"
        if limits.deadline is not None and time.monotonic() >= limits.deadline:
            return "timeout reached"
        if limits.budget is not None:
            return limits.budget.exhausted_by(self.meter.total)
        return None

    # -- one trial -----------------------------------------------------------------------------------
    def _ask_valid(self) -> tuple[optuna.Trial, Configuration] | None:
        """Ask until a configuration meets the constraints; rejected ones are stored as pruned."""
        with self.lock:
            baseline, self.baseline = self.baseline, None
        if baseline is not None:
            self.optuna_study.enqueue_trial(baseline, user_attrs={BASELINE_ATTR: True})
        while True:
            trial = self.optuna_study.ask()
            configuration = self.space.suggest(trial)
            violation = self.space.check_constraints(configuration)
            if violation is None:
                with self.lock:
                    self.rejections = 0
                return trial, configuration
            self._end(
                trial, TrialRecord(configuration=configuration, rejected_by=violation), TrialState.PRUNED, counted=False
            )
            with self.lock:
                self.rejections += 1
                rejections = self.rejections
            if rejections >= _MAX_CONSECUTIVE_REJECTIONS:
                self.stop(
                    f"{rejections} sampled configurations in a row broke the constraints (last: {violation})", halt=True
                )
                return None
            if self.halt.is_set():
                return None

    def _stoppers(self, trial: optuna.Trial, lane: Lane | None) -> list[Stopper]:
        stoppers: list[Stopper] = [RunEndStopper(self)]
        if self.limits.budget is not None:
            stoppers.append(BudgetStopper(self.limits.budget, self.meter))
        if self.pruner is not None:
            stoppers.append(PrunerStopper(trial, per_example=isinstance(self.pruner, optuna.pruners.WilcoxonPruner)))
        if lane is not None:
            stoppers.append(RaceStopper(lane))
        return stoppers

    def _one_trial(self) -> None:
        asked = self._ask_valid()
        if asked is None:
            return
        trial, configuration = asked
        self.heartbeat.add(trial._trial_id)
        try:
            self._run_trial(trial, configuration)
        finally:
            self.heartbeat.remove(trial._trial_id)

    def _run_trial(self, trial: optuna.Trial, configuration: Configuration) -> None:
        landed = Landed(len(self.dataset))
        spent = UsageMeter()  # what this trial's examples cost, kept for a trial stopped early
        lane = self.race.lane(trial.number) if self.race is not None else None
        stoppers = self._stoppers(trial, lane)

        def on_failure(failure: ExampleFailure) -> None:
            landed.fail(failure)
            self._log_first_failure(trial.number, failure)

        def on_result(index: int, score: float) -> None:
            landed.add(index, score)
            self.progress.example_done()
            for stopper in stoppers:
                stopper.check(landed, index, score)

        def partial(note: str) -> TrialRecord:
            estimate = lane.estimate() if lane is not None and lane.stopped else None
            return TrialRecord(
                configuration=configuration,
                scores=landed.in_dataset_order(),
                failures=landed.failures[:MAX_RECORDED_FAILURES],
                examples_evaluated=landed.done,
                examples_saved=landed.n - landed.done,
                partial=EvaluationSummary.landed(list(landed.scores.values()), len(landed.failures), spent.total),
                error=note,
                estimated_score=estimate,
            )

        try:
            candidate = self.program.apply_configuration(configuration)
            # a raced trial evaluates the examples in its own order; failures are heard as they land
            with metering(spent), planned(order=lane.order if lane is not None else None, on_failure=on_failure):
                evaluation = evaluate_candidate(candidate, self.dataset, self.metric, on_result, self.max_concurrency)
            values = objective_values(self.objectives, evaluation)
        except optuna.TrialPruned as exc:
            if landed.all_failed:
                self._failed(trial, partial(_all_failed(landed.failures, landed.done)))
            else:
                self._end(trial, partial(str(exc)), TrialState.PRUNED)
        except RunStopped as exc:
            self.stop(str(exc))
            self._end(trial, partial(f"stopped: {exc}"), TrialState.PRUNED)
        except (KeyboardInterrupt, SystemExit):
            self.terminate()
            self._end(trial, partial("interrupted"), TrialState.FAIL)
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            self._failed(trial, partial(message[:2000]))
            if isinstance(exc, (InvalidConfiguration, BudgetError)) or not self.catch_trial_errors:
                # A configuration sampled from the adapter's own space was refused (a bug), or a budget that
                # cannot hold: worth stopping for.
                self.stop(message, halt=True)
                raise
        else:
            self._complete(trial, configuration, evaluation, values)

    def _complete(
        self, trial: optuna.Trial, configuration: Configuration, evaluation: Evaluation, values: Sequence[float]
    ) -> None:
        record = TrialRecord(
            configuration=configuration,
            evaluation=evaluation.summary(),
            scores=list(evaluation.scores),
            predictions=list(evaluation.predictions),
            failures=list(evaluation.failures[:MAX_RECORDED_FAILURES]),
            examples_evaluated=evaluation.n_examples,
        )
        if evaluation.n_examples and evaluation.n_failures == evaluation.n_examples:
            self._failed(
                trial, record.model_copy(update={"error": _all_failed(evaluation.failures, evaluation.n_examples)})
            )
            return
        note = ""
        if evaluation.n_failures > FAILURE_SHARE_TO_REPORT * evaluation.n_examples:
            first = evaluation.failures[0]
            note = (
                f"{evaluation.n_failures} of {evaluation.n_examples} examples failed "
                f"(first: {first.error_type}: {first.message[:200]})"
            )
            record = record.model_copy(update={"warning": note})
        with self.lock:
            self.failed_in_a_row = 0
        self._end(trial, record, TrialState.COMPLETE, values=values, note=note)

    def _failed(self, trial: optuna.Trial, record: TrialRecord) -> None:
        """A failed trial; several in a row stop the run, their error as the reason."""
        logger.warning("trial %d failed: %s", trial.number, record.error)
        self._end(trial, record, TrialState.FAIL)
        with self.lock:
            self.failed_in_a_row += 1
            failed = self.failed_in_a_row
        if failed >= self.limits.failed_trials_in_a_row:
            reason = f"{failed} trials in a row failed; the last: {record.error}"
            logger.error("study %s stops: %s", self.optuna_study.study_name, reason)
            self.stop(reason, halt=True)

    def _log_first_failure(self, trial_number: int, failure: ExampleFailure) -> None:
        """The first failure of each kind is logged; the rest are stored in their trial's record."""
        kind = f"{failure.error_type}: {failure.message[:80]}"
        with self.lock:
            if kind in self.logged_failures:
                return
            self.logged_failures.add(kind)
        logger.warning(
            "example %d failed in trial %d: %s: %s (further failures like it are stored in the "
            "trials' records, not logged)",
            failure.index,
            trial_number,
            failure.error_type,
            failure.message,
        )

    def _end(
        self,
        trial: optuna.Trial,
        record: TrialRecord,
        state: TrialState,
        *,
        values: Sequence[float] | None = None,
        counted: bool = True,
        note: str = "",
    ) -> None:
        """Store the record, tell Optuna, then let the race, the progress line and the observers know."""
        try:
            record.write(trial, configuration_text=self.readable.line(record.configuration))
            if values is not None:
                frozen = self.optuna_study.tell(trial, list(values) if len(values) > 1 else values[0])
            else:
                frozen = self.optuna_study.tell(trial, state=state)
        except UpdateFinishedTrialError:
            # Another process reclaimed this trial while it ran (its heartbeat was late): it runs again there.
            logger.warning(
                "trial %d was reclaimed by another process while it ran; its result is dropped", trial.number
            )
            return
        if values is not None and self.race is not None:
            self.race.offer(record.scores)  # type: ignore[arg-type]  # a complete trial: every score is there
        if counted:
            self.progress.trial_done(self.meter.total, note)
        for observer in self.observers:
            observer(self.optuna_study, frozen)


def _all_failed(failures: Sequence[ExampleFailure], n: int) -> str:
    first = failures[0]
    return f"every example failed ({n} of {n}); the first: {first.error_type}: {first.message}"


__all__ = [
    "FAILURE_SHARE_TO_REPORT",
    "BudgetStopper",
    "Landed",
    "Limits",
    "Observer",
    "PrunerStopper",
    "RaceStopper",
    "Run",
    "RunEndStopper",
    "Stopper",
    "evaluate_candidate",
    "objective_values",
    "run_coroutine",
]
