"""Studies: Optuna's search and storage, applied to LLM programs.

A :class:`Study` wraps an ``optuna.Study``. Each trial samples a configuration from
the target's space through ask/tell, applies it, evaluates it example by example
(reporting to the pruner and counting the budget as scores land), and tells Optuna
the value of each objective. Everything about a trial is stored in its user
attributes, so a study can be inspected with ``optuna-dashboard`` or resumed later.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from stacktune._keys import ATTR_OBJECTIVES, ATTR_SPACE, ATTR_TRIAL, ESTIMATE_KEY
from stacktune.errors import BudgetExhausted, InvalidConfiguration, StacktuneError
from stacktune.evaluation import UsageMeter, metering
from stacktune.objectives import BUILTIN_OBJECTIVES, Objective, ObjectiveLike, resolve_objectives
from stacktune.plugins import get_plugin_manager, optimizable
from stacktune.protocol import Evaluation, Metric, Optimizable, SupportsExport, Usage
from stacktune.racing import Race, RacingSampler, estimated_score, race_for
from stacktune.space import Configuration, Space

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

logger = logging.getLogger("stacktune")

DEFAULT_STORAGE = "sqlite:///stacktune.db"

_MAX_CONSECUTIVE_REJECTIONS = 200


@dataclass(frozen=True)
class Budget:
    """Stop starting trials once any limit is spent (counted over one ``optimize`` call).

    Cached answers are not counted: they cost nothing again.
    """

    usd: float | None = None
    calls: int | None = None
    tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("usd", "calls", "tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValueError(f"Budget.{name} must be a non-negative number, got {value!r}")

    def exhausted_by(self, spent: Usage) -> str | None:
        """Which limit ``spent`` reached, or None."""
        if self.usd is not None and spent.spent_cost_usd >= self.usd:
            return f"USD budget {self.usd} spent ({spent.spent_cost_usd:.4f})"
        if self.calls is not None and spent.spent_calls >= self.calls:
            return f"call budget {self.calls} spent ({spent.spent_calls})"
        if self.tokens is not None and spent.spent_tokens >= self.tokens:
            return f"token budget {self.tokens} spent ({spent.spent_tokens})"
        return None


@dataclass(frozen=True)
class TrialResult:
    """One trial as stacktune sees it: configuration, objective values, evaluation, fate."""

    number: int
    state: str
    configuration: dict[str, Any]
    values: dict[str, float]
    evaluation: dict[str, Any] = field(default_factory=dict)
    scores: tuple[float | None, ...] = ()
    failures: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    rejected_by: str | None = None
    examples_evaluated: int = 0
    examples_saved: int = 0
    duration_s: float | None = None
    #: A trial the default search raced out: its estimated score over the whole dataset.
    estimated_score: float | None = None

    @classmethod
    def from_frozen(cls, trial: FrozenTrial, objective_names: Sequence[str]) -> TrialResult:
        record: dict[str, Any] = trial.user_attrs.get(ATTR_TRIAL, {})
        values = dict(zip(objective_names, trial.values, strict=False)) if trial.values else {}
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        return cls(
            number=trial.number,
            state=trial.state.name.lower(),
            configuration=dict(record.get("configuration", trial.params)),
            values=values,
            evaluation=dict(record.get("evaluation", {})),
            scores=tuple(record.get("scores", ())),
            failures=tuple(record.get("failures", ())),
            error=record.get("error") or record.get("rejected_by"),
            rejected_by=record.get("rejected_by"),
            examples_evaluated=int(record.get("examples_evaluated", 0)),
            examples_saved=int(record.get("examples_saved", 0)),
            estimated_score=estimated_score(trial),
            duration_s=duration,
        )

    def apply_to(self, target: object) -> Optimizable:
        """The target with this trial's configuration applied (the target stays unchanged)."""
        return optimizable(target).apply_configuration(self.configuration)

    def export(self, target: object) -> object:
        """A native object of the target's framework, when the adapter can export one."""
        applied = self.apply_to(target)
        if isinstance(applied, SupportsExport):
            return applied.to_native()
        return applied


class Study:
    """An Optuna study that knows about LLM programs. Create with :func:`create_study`."""

    def __init__(self, optuna_study: optuna.Study, objectives: Sequence[Objective], *,
                 plugin_manager: pluggy.PluginManager | None = None, sampler_given: bool = True,
                 storage_url: str | None = None, seed: int | None = None, pruner_given: bool = True) -> None:
        self.optuna_study = optuna_study
        self.seed = seed
        self.last_stop_reason: str | None = None
        self.objectives = tuple(objectives)
        self._plugin_manager = plugin_manager
        self._sampler_given = sampler_given
        self._pruner_given = pruner_given
        self.storage_url = storage_url
        self._stop_requested = threading.Event()

    # -- identity -----------------------------------------------------------------
    @property
    def study_name(self) -> str:
        return self.optuna_study.study_name

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def __repr__(self) -> str:
        return (f"Study(name={self.study_name!r}, objectives={list(self.objective_names)}, "
                f"trials={len(self.optuna_study.trials)})")

    # -- running ------------------------------------------------------------------
    def stop(self) -> None:
        """Ask a running ``optimize`` to start no new trial (from a callback or another thread)."""
        self._stop_requested.set()

    def optimize(
        self,
        target: object,
        dataset: Sequence[Any],
        metric: Metric,
        *,
        space: Space | None = None,
        n_trials: int | None = None,
        timeout: float | None = None,
        budget: Budget | None = None,
        n_jobs: int = 1,
        max_concurrency: int = 1,
        callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
        show_progress_bar: bool | None = None,
        catch_trial_errors: bool = True,
    ) -> None:
        """Run trials until ``n_trials`` more are done, ``timeout`` seconds pass or the budget is spent.

        ``target`` is anything an installed adapter accepts (or an Optimizable);
        ``space`` defaults to the target's own space. With no ``n_trials``, ``timeout``
        or ``budget`` it runs until :meth:`stop` or Ctrl-C. Trials already told are
        stored as they finish; an interrupted trial is marked failed.
        """
        program = optimizable(target, manager=self._plugin_manager)
        space = space if space is not None else program.extract_variables()
        if not isinstance(space, Space):
            raise TypeError(f"space must be a stacktune.Space, got {type(space).__name__}")
        if not len(dataset):
            raise ValueError("dataset is empty: there is nothing to evaluate a configuration on")
        if n_trials is not None and n_trials < 0:
            raise ValueError(f"n_trials must be >= 0, got {n_trials}")
        if n_jobs == -1:
            import os

            n_jobs = os.cpu_count() or 1
        if n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1 (or -1 for one per CPU), got {n_jobs}")
        self._check_space_compatible(space)
        # The default search (no sampler, no pruner, objective "score") races each trial against the best
        # complete one and stops it once it is unlikely to win (see stacktune.racing).
        race = race_for(n_examples=len(dataset), default_search=not (self._sampler_given or self._pruner_given),
                        single_score_objective=self.objectives == (BUILTIN_OBJECTIVES["score"],))
        self._configure_sampler(space, n_jobs, racing=race is not None)
        pruning = self._pruning_enabled()

        run = _Run(self, program, space, dataset, metric, n_trials=n_trials, timeout=timeout, budget=budget,
                   max_concurrency=max_concurrency, callbacks=tuple(callbacks), pruning=pruning,
                   catch_trial_errors=catch_trial_errors, race=race)
        self._stop_requested.clear()
        if show_progress_bar is None:
            show_progress_bar = sys.stderr.isatty()
        with _progress(show_progress_bar, n_trials, self) as progress:
            run.progress = progress
            if n_jobs == 1:
                run.worker()
            else:
                with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="stacktune-trial") as pool:
                    futures = [pool.submit(run.worker) for _ in range(n_jobs)]
                    try:
                        for future in futures:
                            future.result()
                    except BaseException:
                        run.halt.set()
                        raise
        if run.stop_reason:
            logger.info("study %s stopped: %s", self.study_name, run.stop_reason)
        self.last_stop_reason = run.stop_reason

    def _pruning_enabled(self) -> bool:
        pruner = self.optuna_study.pruner
        if isinstance(pruner, optuna.pruners.NopPruner):
            return False
        if self.is_multi_objective:
            raise ValueError(
                "pruning is single-objective only in Optuna; this study has objectives "
                f"{list(self.objective_names)}: create it without a pruner (or with one objective)"
            )
        return True

    def _configure_sampler(self, space: Space, n_jobs: int, *, racing: bool) -> None:
        if self._sampler_given:
            return
        sampler = _default_sampler(group=space.is_conditional, constant_liar=n_jobs > 1, seed=self.seed)
        # While racing, the sampler learns from raced-out trials' estimates (see RacingSampler).
        self.optuna_study.sampler = RacingSampler(sampler, parallel=n_jobs > 1) if racing else sampler

    def _check_space_compatible(self, space: Space) -> None:
        """A study's categorical choices may never change: say which variable changed, up front."""
        stored = self.optuna_study.user_attrs.get(ATTR_SPACE)
        current = json.loads(space.to_json())
        if stored is None:
            self.optuna_study.set_user_attr(ATTR_SPACE, current)
            return
        stored_vars = {v["name"]: v for v in stored.get("variables", [])}
        for variable in current.get("variables", []):
            old = stored_vars.get(variable["name"])
            if old is None:
                continue
            for key in ("kind", "keys", "low", "high", "log", "step"):
                if old.get(key) != variable.get(key):
                    raise StacktuneError(
                        f"study {self.study_name!r} was run with a different definition of variable "
                        f"{variable['name']!r} ({key}: stored {old.get(key)!r}, now {variable.get(key)!r}); "
                        f"a study's distributions may never change: use a new study name"
                    )

    # -- results ------------------------------------------------------------------
    @property
    def trials(self) -> list[TrialResult]:
        return [TrialResult.from_frozen(t, self.objective_names) for t in self.optuna_study.get_trials(deepcopy=False)]

    def completed_trials(self) -> list[TrialResult]:
        return [t for t in self.trials if t.state == "complete"]

    @property
    def best(self) -> TrialResult:
        """The best complete trial of a single-objective study."""
        if self.is_multi_objective:
            raise ValueError(f"study {self.study_name!r} has objectives {list(self.objective_names)}: "
                             f"use pareto_front() for the best trade-offs")
        complete = self.optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            raise ValueError(f"study {self.study_name!r} has no complete trial yet")
        return TrialResult.from_frozen(self.optuna_study.best_trial, self.objective_names)

    def pareto_front(self) -> list[TrialResult]:
        """The non-dominated complete trials (for one objective: the best ones), by trial number."""
        trials = self.optuna_study.best_trials
        return sorted((TrialResult.from_frozen(t, self.objective_names) for t in trials), key=lambda r: r.number)

    @property
    def examples_saved(self) -> int:
        """Examples not evaluated because the pruner stopped their trial early."""
        return sum(t.examples_saved for t in self.trials)

    def trials_dataframe(self) -> pd.DataFrame:
        """Optuna's dataframe with objective names as value columns and stacktune's attributes."""
        frame = self.optuna_study.trials_dataframe(multi_index=False)
        if self.is_multi_objective:
            frame = frame.rename(columns={f"values_{i}": f"values_{n}" for i, n in enumerate(self.objective_names)})
        elif "value" in frame.columns:
            frame = frame.rename(columns={"value": f"values_{self.objective_names[0]}"})
        return frame

    def _notify(self, trial: FrozenTrial) -> None:
        manager = self._plugin_manager or get_plugin_manager()
        manager.hook.stacktune_trial_finished(study=self, result=TrialResult.from_frozen(trial, self.objective_names))


class _Run:
    """The state of one ``optimize`` call, shared by its worker threads."""

    def __init__(self, study: Study, program: Optimizable, space: Space, dataset: Sequence[Any], metric: Metric, *,
                 n_trials: int | None, timeout: float | None, budget: Budget | None, max_concurrency: int,
                 callbacks: tuple[Callable[[optuna.Study, FrozenTrial], None], ...], pruning: bool,
                 catch_trial_errors: bool, race: Race | None = None) -> None:
        self.study = study
        self.program = program
        self.space = space
        self.dataset = dataset
        self.metric = metric
        self.n_trials = n_trials
        self.deadline = time.monotonic() + timeout if timeout is not None else None
        self.budget = budget
        self.max_concurrency = max_concurrency
        self.callbacks = callbacks
        self.pruning = pruning
        self.race = race
        self.catch_trial_errors = catch_trial_errors
        self.wilcoxon = isinstance(study.optuna_study.pruner, optuna.pruners.WilcoxonPruner)
        self.meter = UsageMeter()
        self.lock = threading.Lock()
        self.started = 0
        self.rejections = 0
        self.halt = threading.Event()
        self.stop_reason: str | None = None
        self.progress: _ProgressLike = _NoProgress()

    # -- stopping -----------------------------------------------------------------
    def _claim_trial(self) -> bool:
        with self.lock:
            reason = self._stop_reason()
            if reason:
                self.stop_reason = self.stop_reason or reason
                return False
            self.started += 1
            return True

    def _stop_reason(self) -> str | None:
        if self.halt.is_set():
            return self.stop_reason or "halted"
        if self.study._stop_requested.is_set():
            return "stop() was called"
        if self.n_trials is not None and self.started >= self.n_trials:
            return f"{self.n_trials} trials done"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "timeout reached"
        if self.budget is not None:
            return self.budget.exhausted_by(self.meter.total)
        return None

    # -- trials -------------------------------------------------------------------
    def worker(self) -> None:
        with metering(self.meter):
            while self._claim_trial():
                self._one_trial()

    def _ask_valid(self) -> tuple[optuna.Trial, Configuration] | None:
        """Ask until a configuration meets the constraints; rejected ones are stored as pruned."""
        optuna_study = self.study.optuna_study
        while True:
            trial = optuna_study.ask()
            configuration = self.space.suggest(trial)
            violation = self.space.check_constraints(configuration)
            if violation is None:
                with self.lock:
                    self.rejections = 0
                return trial, configuration
            trial.set_user_attr(ATTR_TRIAL, {"configuration": configuration, "rejected_by": violation})
            frozen = optuna_study.tell(trial, state=TrialState.PRUNED)
            self._finish(frozen, counted=False)
            with self.lock:
                self.rejections += 1
                if self.rejections >= _MAX_CONSECUTIVE_REJECTIONS:
                    self.stop_reason = (f"{self.rejections} sampled configurations in a row broke the "
                                        f"constraints (last: {violation})")
                    self.halt.set()
                    return None
            if self.halt.is_set():
                return None

    def _one_trial(self) -> None:
        asked = self._ask_valid()
        if asked is None:
            return
        trial, configuration = asked
        optuna_study = self.study.optuna_study
        scores: dict[int, float] = {}
        report_lock = threading.Lock()
        n = len(self.dataset)
        race, lane = self.race, self.race.lane(trial.number) if self.race else None

        def on_result(index: int, score: float) -> None:
            if lane is not None:
                index = lane.order[index]  # a raced trial evaluates the dataset in its own order
            with report_lock:
                scores[index] = score
                done = len(scores)
                running_mean = sum(scores.values()) / done
            self.progress.example_done()
            if self.budget is not None:
                reason = self.budget.exhausted_by(self.meter.total)
                if reason:
                    raise BudgetExhausted(reason)
            if self.pruning:
                with report_lock:
                    if self.wilcoxon:
                        trial.report(score, step=index)
                    else:
                        trial.report(running_mean, step=done)
                    prune = trial.should_prune()
                if prune:
                    raise optuna.TrialPruned(f"pruned after {done} of {n} examples (mean {running_mean:.3f})")
            if lane is not None and lane.add(index, score):  # decided in memory: no storage write per example
                raise optuna.TrialPruned(f"raced out after {done} of {n} examples (estimated score "
                                         f"{lane.estimate():.3f}, P(beats the best) {lane.probability:.3f})")

        def partial(state_note: str) -> None:
            record = {
                "configuration": configuration, "scores": [scores.get(i) for i in range(n)],
                "examples_evaluated": len(scores), "examples_saved": n - len(scores), "error": state_note,
            }
            if lane is not None and lane.stopped:
                record[ESTIMATE_KEY] = lane.estimate()  # what the sampler learns from (see RacingSampler)
            trial.set_user_attr(ATTR_TRIAL, record)

        try:
            candidate = self.program.apply_configuration(configuration)
            evaluation = candidate.evaluate(lane.ordered(self.dataset) if lane else self.dataset, self.metric,
                                            on_result=on_result, max_concurrency=self.max_concurrency)
            if not isinstance(evaluation, Evaluation):
                raise TypeError(f"evaluate() returned {type(evaluation).__name__}, not a stacktune.Evaluation")
            if lane is not None:
                evaluation = lane.restore(evaluation)
            values = [objective(evaluation) for objective in self.study.objectives]
            bad = [o.name for o, v in zip(self.study.objectives, values, strict=True) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"objective(s) {bad} gave a non-finite value: {values}")
        except optuna.TrialPruned as exc:
            partial(str(exc))
            frozen = optuna_study.tell(trial, state=TrialState.PRUNED)
            self._finish(frozen)
            return
        except BudgetExhausted as exc:
            partial(f"stopped: {exc}")
            with self.lock:
                self.stop_reason = str(exc)
            frozen = optuna_study.tell(trial, state=TrialState.PRUNED)
            self._finish(frozen)
            return
        except (KeyboardInterrupt, SystemExit):
            partial("interrupted")
            frozen = optuna_study.tell(trial, state=TrialState.FAIL)
            self.halt.set()
            self.stop_reason = "interrupted"
            self._finish(frozen)
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            partial(message[:2000])
            frozen = optuna_study.tell(trial, state=TrialState.FAIL)
            self._finish(frozen)
            if isinstance(exc, InvalidConfiguration) or not self.catch_trial_errors:
                # A configuration sampled from the adapter's own space was refused: a bug worth stopping for.
                self.halt.set()
                self.stop_reason = message
                raise
            logger.warning("trial %d failed: %s", trial.number, message)
            return
        trial.set_user_attr(ATTR_TRIAL, {
            "configuration": configuration, "evaluation": evaluation.summary(), "scores": list(evaluation.scores),
            "failures": [f.model_dump() for f in evaluation.failures[:20]],
            "examples_evaluated": evaluation.n_examples, "examples_saved": 0,
        })
        frozen = optuna_study.tell(trial, values if len(values) > 1 else values[0])
        if race is not None:
            race.offer(evaluation.scores)
        self._finish(frozen)

    def _finish(self, frozen: FrozenTrial, *, counted: bool = True) -> None:
        if counted:
            self.progress.trial_done(frozen, self.meter.total)
        self.study._notify(frozen)
        for callback in self.callbacks:
            callback(self.study.optuna_study, frozen)


# -- progress -------------------------------------------------------------------------
class _ProgressLike:
    def trial_done(self, trial: FrozenTrial, spent: Usage) -> None: ...
    def example_done(self) -> None: ...


class _NoProgress(_ProgressLike):
    pass


class _RichProgress(_ProgressLike):
    def __init__(self, total: int | None, study: Study) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._study = study
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"), transient=False,
        )
        self._task = self._progress.add_task(f"study {study.study_name}", total=total, status="")
        self._examples = 0
        self._lock = threading.Lock()

    def __enter__(self) -> _RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def example_done(self) -> None:
        with self._lock:
            self._examples += 1

    def trial_done(self, trial: FrozenTrial, spent: Usage) -> None:
        best = ""
        try:
            if not self._study.is_multi_objective and self._study.optuna_study.best_trials:
                best = f"best {self._study.objective_names[0]}={self._study.optuna_study.best_value:.3f} "
            elif self._study.is_multi_objective:
                best = f"pareto {len(self._study.optuna_study.best_trials)} "
        except ValueError:
            best = ""
        status = f"{best}examples {self._examples} calls {spent.spent_calls} tokens {spent.spent_tokens}"
        self._progress.update(self._task, advance=1, status=status)


class _progress:
    def __init__(self, enabled: bool, total: int | None, study: Study) -> None:
        self._impl: _ProgressLike = _RichProgress(total, study) if enabled else _NoProgress()

    def __enter__(self) -> _ProgressLike:
        if isinstance(self._impl, _RichProgress):
            self._impl.__enter__()
        return self._impl

    def __exit__(self, *exc: object) -> None:
        if isinstance(self._impl, _RichProgress):
            self._impl.__exit__(*exc)


# -- construction ---------------------------------------------------------------------
def _default_sampler(*, group: bool, constant_liar: bool, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """TPE that models variables jointly; ``group`` splits the space by which variables are active."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(multivariate=True, group=group, constant_liar=constant_liar, seed=seed)


def _storage_url(storage: str | optuna.storages.BaseStorage | None) -> str | optuna.storages.BaseStorage:
    return DEFAULT_STORAGE if storage is None else storage


def create_study(
    study_name: str | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    objectives: Sequence[ObjectiveLike] | ObjectiveLike = ("score",),
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    load_if_exists: bool = True,
    *,
    seed: int | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Study:
    """Create (or, by default, load) a study.

    ``storage`` is any Optuna storage or URL; by default ``sqlite:///stacktune.db`` in
    the working directory, which ``optuna-dashboard`` opens. ``objectives`` are names
    (``score`` maximized; ``cost``, ``latency``, ``tokens`` minimized) or
    :class:`~stacktune.Objective` objects. Without a sampler, TPE is used (multivariate,
    grouped when the space is conditional). Without a pruner, trials are not pruned.
    """
    resolved = resolve_objectives(objectives)
    url = _storage_url(storage)
    optuna_study = optuna.create_study(
        storage=url, sampler=sampler or _default_sampler(group=False, constant_liar=False, seed=seed),
        pruner=pruner or optuna.pruners.NopPruner(), study_name=study_name, load_if_exists=load_if_exists,
        directions=[o.direction for o in resolved],
    )
    stored = optuna_study.user_attrs.get(ATTR_OBJECTIVES)
    described = [{"name": o.name, "direction": o.direction} for o in resolved]
    if stored is not None and stored != described:
        raise StacktuneError(
            f"study {optuna_study.study_name!r} exists with objectives {stored}, not {described}; "
            f"use load_study() or another study name"
        )
    if stored is None:
        optuna_study.set_user_attr(ATTR_OBJECTIVES, described)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna_study.set_metric_names([o.name for o in resolved])
    return Study(optuna_study, resolved, plugin_manager=plugin_manager, sampler_given=sampler is not None,
                 storage_url=url if isinstance(url, str) else None, seed=seed, pruner_given=pruner is not None)


def load_study(
    study_name: str,
    storage: str | optuna.storages.BaseStorage | None = None,
    *,
    objectives: Sequence[Objective] = (),
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Study:
    """Load a stored study. Custom objectives are code: pass them again (matched by name)."""
    url = _storage_url(storage)
    optuna_study = optuna.load_study(study_name=study_name, storage=url, sampler=sampler,
                                     pruner=pruner or optuna.pruners.NopPruner())
    stored = optuna_study.user_attrs.get(ATTR_OBJECTIVES)
    if stored is None:
        names = optuna_study.metric_names or ["score"]
        directions = optuna_study.directions
        stored = [{"name": n, "direction": d.name.lower()} for n, d in zip(names, directions, strict=False)]
    given = {o.name: o for o in objectives}
    resolved: list[Objective] = []
    for item in stored:
        if item["name"] in given:
            resolved.append(given[item["name"]])
        else:
            try:
                resolved.extend(resolve_objectives(item["name"]))
            except ValueError:
                raise StacktuneError(
                    f"study {study_name!r} uses the custom objective {item['name']!r}: pass it again with "
                    f"load_study(..., objectives=[Objective({item['name']!r}, ...)])"
                ) from None
    return Study(optuna_study, resolved, plugin_manager=plugin_manager, sampler_given=sampler is not None,
                 storage_url=url if isinstance(url, str) else None, pruner_given=pruner is not None)


def study_summaries(storage: str | optuna.storages.BaseStorage | None = None) -> list[dict[str, Any]]:
    """Name, trial count and objectives of every study in a storage."""
    summaries = optuna.get_all_study_summaries(storage=_storage_url(storage))
    return [{"study_name": s.study_name, "n_trials": s.n_trials,
             "objectives": s.user_attrs.get(ATTR_OBJECTIVES)} for s in summaries]


def configuration_json(configuration: Mapping[str, Any]) -> str:
    return json.dumps(dict(configuration), sort_keys=True)
