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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from stacktune.cache import ResponseCache, using_cache
from stacktune.errors import BudgetError, BudgetExhausted, InvalidConfiguration, RunStopped, Terminated, TimeoutReached
from stacktune.evaluation import (
    Evaluation,
    EvaluationPlan,
    EvaluationSummary,
    ExampleFailure,
    ExampleOutcome,
    Metric,
    ResultCallback,
    planned,
)
from stacktune.objectives import Objective
from stacktune.protocol import Optimizable, SupportsAsyncEvaluate
from stacktune.racing import Lane, Race
from stacktune.racing_front import FrontLane, FrontRace
from stacktune.readable import ReadableSpace
from stacktune.records import BASELINE_ATTR, MAX_RECORDED_FAILURES, TrialRecord
from stacktune.shared import using
from stacktune.space import Configuration, Space
from stacktune.study._heartbeat import Heartbeat, reclaim_stale_trials
from stacktune.study._ledger import StudyLedger, counts_as_a_trial
from stacktune.study._progress import TrialProgress
from stacktune.study.budget import Budget, Spent
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
    total_trials: int | None = None  # the study's trials over every process, counted in its shared state
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
        self.outcomes: dict[int, ExampleOutcome] = {}  # with the core runner: each example's usage too
        self.failures: list[ExampleFailure] = []
        self._lock = threading.Lock()

    def add(self, index: int, score: float) -> None:
        with self._lock:
            self.scores[index] = score

    def land(self, outcome: ExampleOutcome) -> None:
        with self._lock:
            self.scores[outcome.index] = outcome.score
            self.outcomes[outcome.index] = outcome
            if outcome.failure is not None:
                self.failures.append(outcome.failure)

    @property
    def all_failed(self) -> bool:
        """Every example that landed failed (and at least one landed)."""
        return bool(self.failures) and len(self.failures) >= len(self.scores)

    @property
    def done(self) -> int:
        return len(self.scores)

    @property
    def total(self) -> float:
        """The sum of the scores landed so far."""
        with self._lock:
            return math.fsum(self.scores.values())

    @property
    def mean(self) -> float:
        """The mean of the scores landed so far."""
        with self._lock:
            return sum(self.scores.values()) / len(self.scores) if self.scores else 0.0

    def values(self, objectives: Sequence[Objective]) -> dict[str, list[float]] | None:
        """Each objective's per-example values, in dataset order, when every example landed with its usage."""
        with self._lock:
            if len(self.outcomes) != self.n or any(o.per_example is None for o in objectives):
                return None
            outcomes = [self.outcomes[i] for i in range(self.n)]
        return {o.name: [o.per_example(x) for x in outcomes] for o in objectives if o.per_example is not None}

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
    """Ends the trial (and the run) once the study's budget is spent: within one call per concurrent slot.

    What is spent is read from the study's shared state, so every worker's calls count; this
    process's meter tells whether the budget can hold at all (priced calls, token counts).
    """

    def __init__(self, budget: Budget, meter: UsageMeter, spent: Callable[[], Spent]) -> None:
        self.budget = budget
        self.meter = meter
        self.spent = spent

    def check(self, landed: Landed, index: int, score: float) -> None:
        self.budget.check_enforceable(self.meter.total)
        reason = self.budget.exhausted_by(self.spent())
        if reason:
            raise BudgetExhausted(reason)


class PrunerStopper:
    """Reports each example to Optuna's pruner and ends the trial when it says so.

    What is reported is what makes each pruner's rule mean what it says:

    - WilcoxonPruner compares per-example values, paired by example: each example's value at
      its dataset index;
    - ThresholdPruner prunes a trial whose value leaves a range: the running mean;
    - the others (Median, Percentile, SuccessiveHalving, Hyperband, Patient) compare a trial at a
      step with the other trials at the same step, taking its best value over the steps so far:
      the *partial sum over the whole dataset* (the final mean if the remaining examples scored
      nothing), which only grows. A running mean of 0/1 scores starts lucky (1.0 after one right
      answer), and "best over the steps" then keeps that luck forever: those pruners saved almost
      nothing.
    """

    def __init__(self, trial: optuna.Trial, pruner: optuna.pruners.BasePruner) -> None:
        self.trial = trial
        self.per_example = isinstance(pruner, optuna.pruners.WilcoxonPruner)
        self.running_mean = isinstance(pruner, optuna.pruners.ThresholdPruner)

    def check(self, landed: Landed, index: int, score: float) -> None:
        if self.per_example:
            self.trial.report(score, step=index)
        elif self.running_mean:
            self.trial.report(landed.mean, step=landed.done)
        else:
            self.trial.report(landed.total / landed.n, step=landed.done)
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


class FrontStopper:
    """Ends the trial once it is unlikely to end on the Pareto front (several objectives, decided in memory).

    It needs each example's value of every objective, which the core runner reports with the example;
    an adapter with a loop of its own reports scores only, and its trials run in full.
    """

    def __init__(self, lane: FrontLane, objectives: Sequence[Objective]) -> None:
        self.lane = lane
        self.per_example = [o.per_example for o in objectives]

    def check(self, landed: Landed, index: int, score: float) -> None:
        outcome = landed.outcomes.get(index)
        if outcome is None:
            return
        values = [f(outcome) for f in self.per_example if f is not None]
        if self.lane.add(index, values):
            estimate = ", ".join(f"{v:.4g}" for v in self.lane.estimate())
            raise optuna.TrialPruned(
                f"raced out after {landed.done} of {landed.n} examples (estimated values {estimate}, "
                f"P(on the front) at most {self.lane.probability:.3f})"
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


class OptunaStudyForCallbacks:
    """The ``optuna.Study`` Optuna's callbacks receive, whose ``stop()`` stops this run.

    Optuna's own ``Study.stop()`` refuses to run outside ``optuna.Study.optimize`` ("Study.stop is
    supposed to be invoked inside an objective function or a callback"); callbacks such as
    ``optuna.study.MaxTrialsCallback`` call it. Everything else is the study itself.
    """

    def __init__(self, optuna_study: optuna.Study, stop_requested: threading.Event) -> None:
        self._study = optuna_study
        self._stop_requested = stop_requested

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def stop(self) -> None:
        """Start no new trial (the trials running finish)."""
        self._stop_requested.set()


# -- one trial in flight -----------------------------------------------------------------------------
class TrialInFlight:
    """One trial while its examples land: what landed, the stoppers' decision, the plan given to the runner.

    With the core runner (``plan.followed``), a stopper's decision does not throw away what is in
    flight: the runner starts no new example, lets those in flight land (recorded too), then raises
    it. The race also lowers how many examples may be in flight as the trial's odds fall. An
    adapter with a loop of its own gets the decision raised from ``on_result`` instead.
    """

    def __init__(
        self, run: Run, trial: optuna.Trial, configuration: Configuration, lane: Lane | FrontLane | None
    ) -> None:
        self.run = run
        self.trial = trial
        self.configuration = configuration
        self.lane = lane
        self.landed = Landed(len(run.dataset))
        self.spent = UsageMeter()  # what this trial's examples cost, kept for a trial stopped early
        self.stoppers = run.stoppers(trial, lane)
        self.decision: BaseException | None = None
        self.plan = EvaluationPlan(
            order=lane.order if lane is not None else None,
            on_example=self.on_example,
            stop=lambda: self.decision,
            in_flight=(lambda: lane.in_flight(run.max_concurrency)) if lane is not None else None,
        )

    def on_example(self, outcome: ExampleOutcome) -> None:
        self.landed.land(outcome)
        if outcome.failure is not None:
            self.run.log_first_failure(self.trial.number, outcome.failure)

    def on_result(self, index: int, score: float) -> None:
        if not self.plan.followed:
            self.landed.add(index, score)
        self.run.progress.example_done()
        if self.decision is not None:
            return  # stopping: what lands now is recorded, there is nothing left to decide
        try:
            for stopper in self.stoppers:
                stopper.check(self.landed, index, score)
        except (KeyboardInterrupt, SystemExit):
            raise  # an interruption never waits for the examples in flight
        except BaseException as exc:
            if not self.plan.followed:
                raise
            self.decision = exc

    def partial(self, note: str) -> TrialRecord:
        """The record of a trial that did not finish: what landed, and (raced out) its estimate."""
        lane, landed = self.lane, self.landed
        return TrialRecord(
            configuration=self.configuration,
            scores=landed.in_dataset_order(),
            failures=landed.failures[:MAX_RECORDED_FAILURES],
            examples_evaluated=landed.done,
            examples_saved=landed.n - landed.done,
            error=note,
            partial=EvaluationSummary.landed(list(landed.scores.values()), len(landed.failures), self.spent.total),
            estimated_score=lane.estimate() if isinstance(lane, Lane) and lane.stopped else None,
            estimated_values=dict(zip([o.name for o in self.run.objectives], lane.estimate(), strict=True))
            if isinstance(lane, FrontLane) and lane.stopped
            else None,
        )


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
        race: Race | FrontRace | None,
        pruner: optuna.pruners.BasePruner | None,
        max_concurrency: int,
        observers: Sequence[Observer],
        catch_trial_errors: bool,
        stop_requested: threading.Event,
        progress: TrialProgress,
        ledger: StudyLedger,
        baseline: Configuration | None = None,
        fingerprint: str | None = None,
        response_cache: ResponseCache | None = None,
    ) -> None:
        self.optuna_study = optuna_study
        self.response_cache = response_cache  # the study's answers: every adapter of a trial finds it (current_cache)
        self.ledger = ledger  # the study's counters shared by every process: trials claimed, money spent
        self.baseline = baseline  # queued as the first trial this run asks for
        self.dataset_fingerprint = fingerprint  # stored in every record: the race only compares trials on one dataset
        self._complete_seen = -1  # how many complete trials the race has looked at in storage
        self._offered: set[int] = set()  # the complete trials the front race has been offered
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
        self.callback_view = OptunaStudyForCallbacks(optuna_study, stop_requested)
        self.meter.subscribe(ledger.record)
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
        with metering(self.meter), using(self.ledger.state), self._cache_context():
            while self._claim_trial():
                self._one_trial()

    def _cache_context(self) -> AbstractContextManager[object]:
        """The study's response cache as the current one, for the adapters of every trial (none: as outside a study)."""
        return using_cache(self.response_cache) if self.response_cache is not None else nullcontext()

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
        """Whether to start one more trial: the run's own limits, then one of the study's trials, claimed.

        When the study holds its ``total_trials`` while other processes still run some, this one
        waits for them: a dead process's trial is reclaimed after the grace period, and its
        configuration must run again somewhere.
        """
        while True:
            self._reclaim_stale_trials()
            spent = self._budget_spent()
            with self.lock:
                reason = self._stop_reason() or spent
                if reason:
                    self.stop_reason = self.stop_reason or reason
                    return False
                self.started += 1
            if self.ledger.claim(self.limits.total_trials):
                return True
            with self.lock:
                self.started -= 1
            if not self._others_running():
                if self._recover_lost_claims():
                    continue
                self.stop(f"the study holds its {self.limits.total_trials} trials")
                return False
            self.halt.wait(min(self.heartbeat.interval, 0.5))  # until they end, or one is reclaimed

    def _recover_lost_claims(self) -> bool:
        """Give back claims that never became trials (a process killed between the two); True when some were.

        Claims outnumber the trials in storage while nothing runs only if a claim is in flight (its
        trial is a storage round trip away) or lost: a gap that lasts a second is lost.
        """
        gap = self.ledger.trials() - self._stored_trials()
        if gap <= 0:
            return False
        self.halt.wait(1.0)
        claimed = self.ledger.trials()
        gap = claimed - self._stored_trials()
        if gap <= 0 or self._others_running() or not self.ledger.first(f"recovered:{claimed}"):
            return False
        logger.warning(
            "%d claimed trial(s) of study %s never started (a process died): claimed again",
            gap,
            self.optuna_study.study_name,
        )
        self.ledger.release(gap)
        return True

    def _stored_trials(self) -> int:
        return sum(1 for t in self.optuna_study.get_trials(deepcopy=False) if counts_as_a_trial(t))

    def _others_running(self) -> bool:
        """Whether other processes run trials of the study (this process's own are in its heartbeat)."""
        running = self.optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return any(not self.heartbeat.beats_for(t._trial_id) for t in running)

    def _budget_spent(self) -> str | None:
        """Which limit of the budget the study has spent (over every process), or None."""
        if self.limits.budget is None:
            return None
        return self.limits.budget.exhausted_by(self.ledger.spent())

    def _reclaim_stale_trials(self) -> None:
        """Trials of dead processes on this study fail and run again (checked every heartbeat interval)."""
        now = time.monotonic()
        with self.lock:
            if now - self.last_reclaim < self.heartbeat.interval:
                return
            self.last_reclaim = now
        self.ledger.release(len(reclaim_stale_trials(self.optuna_study, self.limits.grace_period)))

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
        return None

    # -- one trial -----------------------------------------------------------------------------------
    def _ask_valid(self) -> tuple[optuna.Trial, Configuration] | None:
        """Ask until a configuration meets the constraints; rejected ones are stored as pruned."""
        with self.lock:
            baseline, self.baseline = self.baseline, None
        if baseline is not None and self.ledger.first("baseline"):  # one process queues it, however many start
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

    def stoppers(self, trial: optuna.Trial, lane: Lane | FrontLane | None) -> list[Stopper]:
        stoppers: list[Stopper] = [RunEndStopper(self)]
        if self.limits.budget is not None:
            stoppers.append(BudgetStopper(self.limits.budget, self.meter, self.ledger.spent))
        if self.pruner is not None:
            stoppers.append(PrunerStopper(trial, self.pruner))
        if isinstance(lane, FrontLane):
            stoppers.append(FrontStopper(lane, self.objectives))
        elif lane is not None:
            stoppers.append(RaceStopper(lane))
        return stoppers

    def _one_trial(self) -> None:
        try:
            asked = self._ask_valid()
        except BaseException:
            self.ledger.release()
            raise
        if asked is None:
            self.ledger.release()  # the claim yielded no trial
            return
        trial, configuration = asked
        self.heartbeat.add(trial._trial_id)
        try:
            self._run_trial(trial, configuration)
        finally:
            self.heartbeat.remove(trial._trial_id)

    def _run_trial(self, trial: optuna.Trial, configuration: Configuration) -> None:
        lane = self._lane(trial.number)
        flight = TrialInFlight(self, trial, configuration, lane)
        try:
            candidate = self.program.apply_configuration(configuration)
            # a raced trial evaluates the examples in its own order; what lands is heard with its usage,
            # and what the trial spends is metered on its own, for a trial stopped early
            with metering(flight.spent), planned(flight.plan):
                evaluation = evaluate_candidate(
                    candidate, self.dataset, self.metric, flight.on_result, self.max_concurrency
                )
            values = objective_values(self.objectives, evaluation)
        except optuna.TrialPruned as exc:
            if flight.landed.all_failed:
                self._failed(trial, flight.partial(_all_failed(flight.landed.failures, flight.landed.done)))
            else:
                self._end(trial, flight.partial(str(exc)), TrialState.PRUNED)
        except RunStopped as exc:
            self.stop(str(exc))
            self._end(trial, flight.partial(f"stopped: {exc}"), TrialState.PRUNED)
        except (KeyboardInterrupt, SystemExit):
            self.terminate()
            self._end(trial, flight.partial("interrupted"), TrialState.FAIL)
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            self._failed(trial, flight.partial(message[:2000]))
            if isinstance(exc, (InvalidConfiguration, BudgetError)) or not self.catch_trial_errors:
                # A configuration sampled from the adapter's own space was refused (a bug), or a budget that
                # cannot hold: worth stopping for.
                self.stop(message, halt=True)
                raise
        else:
            self._complete(trial, configuration, evaluation, values, flight.landed)

    def _lane(self, trial_number: int) -> Lane | FrontLane | None:
        """The trial's place in the race (its order, the incumbent or front as it is now), or None without one."""
        if isinstance(self.race, FrontRace):
            self._sync_front(self.race)
            return self.race.lane(trial_number)
        if self.race is None:
            return None
        self._sync_incumbent(self.race)
        return self.race.lane(trial_number)

    def _new_complete_trials(self) -> list[FrozenTrial] | None:
        """The complete trials in storage, or None when there is no new one since the last look."""
        complete = self.optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        with self.lock:
            if len(complete) == self._complete_seen:
                return None
            self._complete_seen = len(complete)
        return complete

    def _sync_incumbent(self, race: Race) -> None:
        """Race the best complete trial on this dataset in storage: earlier runs' and other workers' count too."""
        complete = self._new_complete_trials()
        if complete is None:
            return
        for trial in sorted(complete, key=lambda t: t.value if t.value is not None else -math.inf, reverse=True):
            if trial.value is None or trial.value * race.n <= race.incumbent_total:
                return  # no stored trial beats the incumbent the race has
            record = TrialRecord.of(trial)
            if record is not None and record.dataset == self.dataset_fingerprint:
                if race.offer([s if s is not None else 0.0 for s in record.scores]):
                    return

    def _sync_front(self, race: FrontRace) -> None:
        """Race the front of the complete trials on this dataset in storage (other workers' included)."""
        complete = self._new_complete_trials()
        if complete is None:
            return
        for trial in complete:
            if trial.number in self._offered:
                continue
            self._offered.add(trial.number)
            record = TrialRecord.of(trial)
            if record is not None and record.dataset == self.dataset_fingerprint:
                values = _front_values(record, self.objectives)
                if values is not None:
                    race.offer_values(values)

    def _complete(
        self,
        trial: optuna.Trial,
        configuration: Configuration,
        evaluation: Evaluation,
        values: Sequence[float],
        landed: Landed,
    ) -> None:
        per_example = landed.values(self.objectives) if len(self.objectives) > 1 else None
        record = TrialRecord(
            configuration=configuration,
            evaluation=evaluation.summary(),
            scores=list(evaluation.scores),
            predictions=list(evaluation.predictions),
            failures=list(evaluation.failures[:MAX_RECORDED_FAILURES]),
            examples_evaluated=evaluation.n_examples,
            example_values={name: v for name, v in (per_example or {}).items() if name != "score"},
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

    def log_first_failure(self, trial_number: int, failure: ExampleFailure) -> None:
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
        record = record.model_copy(update={"dataset": self.dataset_fingerprint})
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
        finally:
            self.ledger.flush()
        if values is not None and isinstance(self.race, FrontRace):
            with self.lock:
                self._offered.add(trial.number)
            front_values = _front_values(record, self.objectives)
            if front_values is not None:
                self.race.offer_values(front_values)
        elif values is not None and isinstance(self.race, Race):
            self.race.offer([s if s is not None else 0.0 for s in record.scores])  # complete: every score is there
        if counted:
            self.progress.trial_done(self.meter.total, note)
        for observer in self.observers:
            observer(self.callback_view, frozen)  # type: ignore[arg-type]  # Optuna's Study, with a stop() that works


def _front_values(record: TrialRecord, objectives: Sequence[Objective]) -> list[list[float]] | None:
    """A complete trial's per-example values of each objective (in the study's order), when stored."""
    values: list[list[float]] = []
    for objective in objectives:
        if objective.name == "score":
            values.append([s if s is not None else 0.0 for s in record.scores])
        elif objective.name in record.example_values:
            values.append(record.example_values[objective.name])
        else:
            return None
    return values


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
