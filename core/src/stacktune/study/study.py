"""The Study: an Optuna study that knows about LLM programs."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from stacktune._alternatives import Alternatives
from stacktune.cache import ResponseCache, cache_beside, using_cache
from stacktune.errors import StacktuneError, Terminated
from stacktune.evaluation import Metric
from stacktune.objectives import Objective
from stacktune.plugins import get_plugin_manager, optimizable
from stacktune.proposals import Bootstrap, BootstrappedDemos, Proposals, ProposesInstructions
from stacktune.protocol import Optimizable
from stacktune.records import ATTR_DATASET, ATTR_SPACE, BASELINE_ATTR, DatasetSample
from stacktune.search import Search
from stacktune.secrets import redact
from stacktune.shared import SharedState, shared_state_for
from stacktune.space import Space
from stacktune.study._arguments import (
    check_budget,
    check_count,
    check_dataset,
    check_metric,
    check_n_jobs,
    check_seconds,
)
from stacktune.study._ledger import StudyLedger, study_spent
from stacktune.study._progress import TrialProgress
from stacktune.study._propose import study_bootstrap, study_proposals, with_bootstrapped, with_proposals
from stacktune.study._trials import Limits, Observer, Run
from stacktune.study.budget import Budget, Spent
from stacktune.study.estimate import Estimate, estimate_spend
from stacktune.study.importance import Importance, importance
from stacktune.study.results import TrialResult
from stacktune.study.verify import Verification, choose, verified, verify

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

logger = logging.getLogger("stacktune")


class Study:
    """An Optuna study that knows about LLM programs. Create with :func:`~stacktune.create_study`.

    Each trial samples a configuration from the target's space through Optuna's ask/tell,
    applies it, evaluates it example by example (the search may stop it early, the budget
    is counted as examples land) and tells Optuna the value of each objective. Everything
    about a trial is stored in its record (user attribute ``stacktune``), so the study can
    be inspected with ``optuna-dashboard`` or resumed later.
    """

    def __init__(
        self,
        optuna_study: optuna.Study,
        objectives: Sequence[Objective],
        search: Search,
        *,
        plugin_manager: pluggy.PluginManager | None = None,
        storage_url: str | None = None,
        shared_state: SharedState | None = None,
        response_cache: ResponseCache | bool | None = None,
    ) -> None:
        self.optuna_study = optuna_study
        self.objectives = tuple(objectives)
        self.search = search
        self.storage_url = storage_url
        #: Where the study's processes share counters: trials claimed, money spent, rate-limit clocks.
        self.shared_state = shared_state or shared_state_for(optuna_study._storage)
        #: The answers every worker of the study shares (beside the shared state unless given); None: no study cache.
        self.response_cache: ResponseCache | None = None
        if isinstance(response_cache, ResponseCache):
            self.response_cache = response_cache
        elif response_cache is not False:
            self.response_cache = cache_beside(self.shared_state)
        self.last_stop_reason: str | None = None
        self._plugin_manager = plugin_manager
        self._stop_requested = threading.Event()

    # -- identity -----------------------------------------------------------------------------------
    @property
    def study_name(self) -> str:
        """The name the study is stored under (what ``load_study`` takes)."""
        return self.optuna_study.study_name

    @property
    def objective_names(self) -> tuple[str, ...]:
        """The objectives' names, in the order of Optuna's values."""
        return tuple(o.name for o in self.objectives)

    @property
    def is_multi_objective(self) -> bool:
        """True with several objectives: the study then has a Pareto front rather than a best trial."""
        return len(self.objectives) > 1

    def __repr__(self) -> str:
        return (
            f"Study(name={self.study_name!r}, objectives={list(self.objective_names)}, "
            f"trials={len(self.optuna_study.trials)})"
        )

    # -- running ------------------------------------------------------------------------------------
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
        total_trials: int | None = None,
        n_jobs: int = 1,
        max_concurrency: int = 1,
        callbacks: Sequence[Observer] = (),
        show_progress_bar: bool | None = None,
        catch_trial_errors: bool = True,
        failed_trials_in_a_row: int = 3,
        grace_period: float = 60.0,
        baseline: bool = True,
        new_dataset: bool = False,
        propose: ProposesInstructions | None = None,
        bootstrap: Bootstrap | None = None,
    ) -> None:
        """Run trials until ``n_trials`` more are done, ``timeout`` seconds pass or the budget is spent.

        ``target`` is anything an installed adapter accepts (or an Optimizable);
        ``space`` defaults to the target's own space. With no ``n_trials``, ``total_trials``,
        ``timeout`` or ``budget`` it runs until :meth:`stop` or Ctrl-C. The timeout and the budget
        also stop a running trial, within about one example per concurrent slot.

        Several processes (and machines) may run ``optimize`` on the same study at once: that is
        how a study scales out (docs/scaling-out.md). ``total_trials`` stops once the study holds
        that many trials, counted over every process, exactly (each trial is claimed in the
        study's shared state before it starts); the ``budget`` counts what the whole study spent.

        Nothing told is lost: trials are stored as they finish; a trial interrupted by Ctrl-C
        or SIGTERM is stored failed. A RUNNING trial of a process that died (no heartbeat for
        ``grace_period`` seconds) is marked failed and its configuration queued again.
        ``failed_trials_in_a_row`` failed trials (every example failing counts) stop the run,
        their error as the reason (``last_stop_reason``). ``callbacks`` are Optuna's:
        ``callback(optuna_study, frozen_trial)`` after every finished trial.

        With ``baseline`` (the default), a new study's first trial is the program as it is
        (its space's defaults), so every result can be read against what you had
        (:attr:`baseline`).

        The study remembers the dataset it searches on (a fingerprint): running it again, from
        this process or another, races against the best complete trial on that dataset from its
        first trial. Another dataset is refused, since the trials would not be comparable, unless
        ``new_dataset=True``: the race then starts again on the new one.

        With ``propose`` (a :class:`~stacktune.Proposer`), before the first trial an LM writes
        instruction candidates for every instruction knob the adapter describes, grounded on a
        few examples of ``dataset``; they become choices of those knobs, the current texts
        staying choices (docs/proposals.md). They are stored in the study with what they cost,
        which counts toward the budget: a resumed study and every worker use the stored ones
        (even without ``propose``) and the proposer is never called again for this study.

        With ``bootstrap`` (a :class:`~stacktune.Bootstrap`), the program as it is runs first on a
        few examples of ``dataset``; those it gets right become demos the search may show (for
        adapters that take demos). Stored and counted like the proposals.
        """
        dataset = check_dataset(dataset)
        metric = check_metric(metric)
        n_trials = check_count("n_trials", n_trials, minimum=0, allow_none=True)
        total_trials = check_count("total_trials", total_trials, minimum=0, allow_none=True)
        timeout = check_seconds("timeout", timeout)
        grace_period = check_seconds("grace_period", grace_period) or 0.0
        budget = check_budget(budget)
        n_jobs = check_n_jobs(n_jobs)
        check_count("max_concurrency", max_concurrency, minimum=1, allow_none=False)
        check_count("failed_trials_in_a_row", failed_trials_in_a_row, minimum=1, allow_none=False)
        ledger = StudyLedger(self.shared_state, self.optuna_study, immediate=budget is not None)
        program = optimizable(target, manager=self._plugin_manager)
        check_wiring(program, dataset)  # before proposals and demos spend anything
        proposals = study_proposals(
            self.optuna_study,
            program,
            dataset,
            propose,
            ledger=ledger,
            budget=budget,
            plugin_manager=self._plugin_manager or get_plugin_manager(),
            wait=max(grace_period, 1.0),
        )
        demos = study_bootstrap(
            self.optuna_study, program, dataset, metric, bootstrap, ledger=ledger, wait=max(grace_period, 1.0)
        )
        if demos is not None:
            program = with_bootstrapped(program, dataset, demos)
        if proposals is not None:
            program, space = with_proposals(program, space, proposals)
        program, space = self._program_and_space(program, space)
        self._check_space_compatible(space)
        fingerprint = self._check_dataset(dataset, new_dataset=new_dataset)
        self.search.prepare(self.optuna_study.sampler, n_jobs=n_jobs)
        limits = Limits(
            n_trials=n_trials,
            total_trials=total_trials,
            budget=budget,
            failed_trials_in_a_row=failed_trials_in_a_row,
            deadline=time.monotonic() + timeout if timeout is not None else None,
            grace_period=grace_period,
        )
        if show_progress_bar is None:
            show_progress_bar = sys.stderr.isatty()
        self._stop_requested.clear()
        with TrialProgress(self.study_name, n_trials, self._best_so_far, enabled=show_progress_bar) as progress:
            run = Run(
                self.optuna_study,
                self.objectives,
                program,
                space,
                dataset,
                metric,
                limits=limits,
                race=self.search.race(n_examples=len(dataset), objectives=self.objectives),
                pruner=self._pruner(),
                max_concurrency=max_concurrency,
                observers=(*callbacks, self._tell_plugins),
                catch_trial_errors=catch_trial_errors,
                stop_requested=self._stop_requested,
                progress=progress,
                ledger=ledger,
                baseline=space.defaults() if baseline and not self.optuna_study.get_trials(deepcopy=False) else None,
                fingerprint=fingerprint,
                response_cache=self.response_cache,
            )
            try:
                with run.heartbeat, _terminate_on_sigterm(run):
                    _run_workers(run, n_jobs)
            finally:
                run.ledger.flush()
        if run.stop_reason:
            logger.info("study %s stopped: %s", self.study_name, run.stop_reason)
        self.last_stop_reason = run.stop_reason

    def estimate(
        self,
        target: object,
        dataset: Sequence[Any],
        metric: Metric,
        n_trials: int,
        *,
        space: Space | None = None,
        probe_examples: int = 3,
        probe_configurations: int = 3,
        max_concurrency: int = 1,
        seed: int | None = 0,
        propose: ProposesInstructions | None = None,
        bootstrap: Bootstrap | None = None,
    ) -> Estimate:
        """What ``optimize(target, dataset, metric, n_trials=n_trials)`` would spend, known before spending it.

        A small probe (``probe_examples`` examples on ``probe_configurations`` configurations:
        the program as it is, the heaviest input its space allows, random ones) measures what
        calls cost; the space bounds the worst case. The probe really calls the models (its cost
        is in the result) but stores nothing: no trial, and the study is left as it was. See
        :mod:`stacktune.study.estimate` for the arithmetic and what it cannot bound. ``seed``
        picks the probe's examples and configurations (None: new ones each time).

        With ``propose`` and ``bootstrap`` (as ``optimize`` takes them), what proposing and
        bootstrapping would spend has its own lines, in the totals (``total_expected``,
        ``total_worst``); the proposer LM is not called. A study that already stores them spends
        nothing on them again, and the probe runs the program with its stored candidates and demos.
        """
        dataset = check_dataset(dataset)
        metric = check_metric(metric)
        check_count("n_trials", n_trials, minimum=1, allow_none=False)
        check_count("probe_examples", probe_examples, minimum=1, allow_none=False)
        check_count("probe_configurations", probe_configurations, minimum=1, allow_none=False)
        check_count("max_concurrency", max_concurrency, minimum=1, allow_none=False)
        if propose is not None and not callable(getattr(propose, "propose", None)):
            raise TypeError(f"propose= must be a stacktune.Proposer (or have propose(site, examples)), got {propose!r}")
        if bootstrap is not None and not isinstance(bootstrap, Bootstrap):
            raise TypeError(f"bootstrap= must be a stacktune.Bootstrap, got {bootstrap!r}")
        program = optimizable(target, manager=self._plugin_manager)
        check_wiring(program, dataset)
        program, space, stored = self._with_stored_steps(program, space, dataset, propose, bootstrap)
        program, space = self._program_and_space(program, space)
        return estimate_spend(
            program,
            space,
            dataset,
            metric,
            n_trials=n_trials,
            races=self.search.race(n_examples=len(dataset), objectives=self.objectives) is not None,
            probe_examples=probe_examples,
            probe_configurations=probe_configurations,
            max_concurrency=max_concurrency,
            seed=seed,
            propose=propose,
            bootstrap=bootstrap,
            stored=stored,
        )

    def _with_stored_steps(
        self,
        program: Optimizable,
        space: Space | None,
        dataset: Sequence[Any],
        propose: ProposesInstructions | None,
        bootstrap: Bootstrap | None,
    ) -> tuple[Optimizable, Space | None, list[Literal["proposals", "bootstrap"]]]:
        """The program with the study's stored demos and proposals (as ``optimize`` gives them), and which it has.

        A study that ran without a step asked for now is refused, as ``optimize`` refuses it.
        """
        stored: list[Literal["proposals", "bootstrap"]] = []
        ran = ATTR_SPACE in self.optuna_study.user_attrs
        demos = self.bootstrapped_demos
        if demos is not None:
            program = with_bootstrapped(program, dataset, demos)
            stored.append("bootstrap")
        proposals = self.proposals
        if proposals is not None:
            program, space = with_proposals(program, space, proposals)
            stored.append("proposals")
        for step, argument, asked in (("proposals", "propose", propose), ("bootstrap", "bootstrap", bootstrap)):
            if asked is not None and ran and step not in stored:
                raise StacktuneError(
                    f"study {self.study_name!r} was run without {argument}=: optimize({argument}=...) would refuse "
                    f"it (new choices would change its space, and a study's choices may never change); "
                    f"use a new study name"
                )
        return program, space, stored

    def _program_and_space(self, target: object, space: Space | None) -> tuple[Optimizable, Space]:
        """The adapter's Optimizable for ``target``, and the space given or else its own."""
        program = optimizable(target, manager=self._plugin_manager)
        space = space if space is not None else program.extract_variables()
        if not isinstance(space, Space):
            raise TypeError(f"space must be a stacktune.Space, got {type(space).__name__}")
        return program, space

    def _pruner(self) -> optuna.pruners.BasePruner | None:
        """Optuna's pruner when the study has one (pruning is single-objective only in Optuna)."""
        pruner = self.optuna_study.pruner
        if isinstance(pruner, optuna.pruners.NopPruner):
            return None
        if self.is_multi_objective:
            raise ValueError(
                "pruning is single-objective only in Optuna; this study has objectives "
                f"{list(self.objective_names)}: create it without a pruner (or with one objective)"
            )
        return pruner

    def _check_space_compatible(self, space: Space) -> None:
        """A study's categorical choices may never change: say which variable changed, up front."""
        stored = self.optuna_study.user_attrs.get(ATTR_SPACE)
        current = redact(json.loads(space.to_json()))  # as stored: choices' texts may carry an LM's key
        if stored is None:
            self.optuna_study.set_user_attr(ATTR_SPACE, current)
            return
        stored_vars = {v["name"]: v for v in stored.get("variables", [])}
        for variable in current.get("variables", []):
            old = stored_vars.get(variable["name"])
            if old is None:
                raise StacktuneError(
                    f"study {self.study_name!r} was run without variable {variable['name']!r}: {variable['name']!r} "
                    f"is new (stored variables: {sorted(stored_vars)}); a study's space may not grow: use a new "
                    f"study name, or keep this study's space with space=space.drop({variable['name']!r}) "
                    f"(or .fix({variable['name']}=...))"
                )
            for key in ("kind", "keys", "low", "high", "log", "step"):
                if old.get(key) != variable.get(key):
                    raise StacktuneError(
                        f"study {self.study_name!r} was run with a different definition of variable "
                        f"{variable['name']!r} ({key}: stored {old.get(key)!r}, now {variable.get(key)!r}); "
                        f"a study's distributions may never change: use a new study name"
                    )

    def _check_dataset(self, dataset: Sequence[Any], *, new_dataset: bool) -> str:
        """The dataset's fingerprint and first inputs, stored with the study; another dataset is refused.

        Unless ``new_dataset``: the race then starts again on the new dataset, which the study keeps.
        """
        sample = DatasetSample.of(dataset)
        stored = DatasetSample.stored_in(self.optuna_study)
        if stored is not None and stored.fingerprint != sample.fingerprint and not new_dataset:
            raise StacktuneError(
                f"study {self.study_name!r} searched another dataset (fingerprint {stored.fingerprint}; this one "
                f"is {sample.fingerprint}): its trials would not be comparable. Use a new study name, or "
                f"optimize(..., new_dataset=True) to start a new race on this dataset in the same study"
            )
        if stored is None or stored.fingerprint != sample.fingerprint:
            self.optuna_study.set_user_attr(ATTR_DATASET, sample.model_dump(mode="json"))
        return sample.fingerprint

    def _best_so_far(self) -> str:
        """The progress line's view of the study: the best value, or the size of the Pareto front."""
        try:
            best = self.optuna_study.best_trials
        except ValueError:
            return ""
        if not best:
            return ""
        if self.is_multi_objective:
            return f"pareto {len(best)} "
        return f"best {self.objective_names[0]}={self.optuna_study.best_value:.3f} "

    def _tell_plugins(self, optuna_study: optuna.Study, trial: FrozenTrial) -> None:
        """The ``stacktune_trial_finished`` hook, delivered as one more Optuna callback."""
        manager = self._plugin_manager or get_plugin_manager()
        manager.hook.stacktune_trial_finished(study=self, result=self._result(trial, self._applying()))

    # -- results ------------------------------------------------------------------------------------
    def _applying(self) -> dict[str, Any]:
        """What a result needs to be applied to the target as written: the study's proposals and demos."""
        proposals = self.proposals
        demos = self.bootstrapped_demos
        return {
            "instruction_candidates": proposals.candidates if proposals is not None else None,
            "bootstrapped_demos": (demos.examples, demos.max_demos) if demos is not None and demos.examples else None,
        }

    def _result(self, trial: FrozenTrial, applying: dict[str, Any]) -> TrialResult:
        """A stored trial as a TrialResult that can be applied (see :meth:`_applying`)."""
        return TrialResult.from_frozen(trial, self.objective_names, **applying)

    @property
    def trials(self) -> list[TrialResult]:
        """Every trial so far, whatever its state, read from storage on each access."""
        applying = self._applying()
        return [self._result(t, applying) for t in self.optuna_study.get_trials(deepcopy=False)]

    def completed_trials(self) -> list[TrialResult]:
        """The trials that ran in full (not pruned, raced out, failed or still running)."""
        return [t for t in self.trials if t.state == "complete"]

    @property
    def best(self) -> TrialResult:
        """The best complete trial of a single-objective study."""
        if self.is_multi_objective:
            raise ValueError(
                f"study {self.study_name!r} has objectives {list(self.objective_names)}: "
                f"use pareto_front() for the best trade-offs"
            )
        complete = self.optuna_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            raise ValueError(f"study {self.study_name!r} has no complete trial yet")
        return self._result(self.optuna_study.best_trial, self._applying())

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's configuration, as ``optuna.Study.best_params`` (one objective)."""
        return dict(self.best.configuration)

    @property
    def best_value(self) -> float:
        """The best trial's value, as ``optuna.Study.best_value`` (one objective)."""
        return self.best.values[self.objective_names[0]]

    @property
    def best_trials(self) -> list[TrialResult]:
        """The Pareto front, as ``optuna.Study.best_trials`` (for one objective: the best trials)."""
        return self.pareto_front()

    def pareto_front(self) -> list[TrialResult]:
        """The non-dominated complete trials (for one objective: the best ones), by trial number."""
        trials = self.optuna_study.best_trials
        applying = self._applying()
        return sorted((self._result(t, applying) for t in trials), key=lambda r: r.number)

    def verify(
        self, target: object, dataset: Sequence[Any], metric: Metric, *, top: int = 1, max_concurrency: int = 1
    ) -> list[Verification]:
        """Evaluate the best ``top`` trials (or the Pareto front) in full on held-out ``dataset``.

        The results are stored in the study (see :meth:`verified`); each says the gap between
        the search's figures and the held-out ones. Use examples the search never saw. The
        answers go through the study's response cache, so verifying again costs nothing.
        """
        program = optimizable(target, manager=self._plugin_manager)
        check_wiring(program, dataset)
        demos = self.bootstrapped_demos
        if demos is not None and demos.passed:
            if demos.examples is None:
                raise StacktuneError(
                    f"study {self.study_name!r} bootstrapped demos JSON cannot hold: verify its trials with "
                    f"the adapter given the demos (with_bootstrapped_demos) as the target"
                )
            program = program.with_bootstrapped_demos(demos.examples, demos.max_demos)  # type: ignore[attr-defined]
        proposals = self.proposals
        if proposals is not None:
            program, _ = with_proposals(program, None, proposals)
        with using_cache(self.response_cache) if self.response_cache is not None else nullcontext():
            return verify(self, program, dataset, metric, top=top, max_concurrency=max_concurrency)

    def choose(self, verifications: Sequence[Verification] = ()) -> TrialResult:
        """The one trial to hand back: best held-out (first objective) among ``verifications``, else the search's best.

        With several objectives the search's best is the Pareto point best on the first one.
        The DSPy and LangChain idioms (``Tune.compile``, ``tune``) return this trial's program.
        """
        return choose(self, verifications)

    def verified(self) -> list[Verification]:
        """The held-out results stored by :meth:`verify`, by trial number."""
        return verified(self)

    @property
    def spent(self) -> Spent:
        """What the study spent (LLM calls, tokens, USD) over every process that worked on it."""
        return study_spent(self.shared_state, self.optuna_study)

    @property
    def proposals(self) -> Proposals | None:
        """The instruction candidates ``optimize(propose=...)`` stored, with what proposing cost; None if none."""
        return Proposals.stored_in(self.optuna_study)

    @property
    def bootstrapped_demos(self) -> BootstrappedDemos | None:
        """The examples ``optimize(bootstrap=...)`` tried and kept as demos, with what running them cost."""
        return BootstrappedDemos.stored_in(self.optuna_study)

    @property
    def baseline(self) -> TrialResult | None:
        """Trial 0 of a study started with ``baseline=True``: the program as the user wrote it."""
        for trial in self.optuna_study.get_trials(deepcopy=False):
            if trial.user_attrs.get(BASELINE_ATTR):
                return self._result(trial, self._applying())
        return None

    def importance(self, evaluator: optuna.importance.BaseImportanceEvaluator | None = None) -> list[Importance]:
        """Which variables mattered, per objective (fANOVA unless another Optuna evaluator is given).

        Needs scikit-learn for fANOVA (``pip install 'stacktune[report]'``); see
        :func:`stacktune.study.importance.importance` for the trials it uses.
        """
        return importance(self, evaluator)

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write the study's report, one self-contained HTML file, and return its path.

        Needs plotly (``pip install 'stacktune[report]'``); see :mod:`stacktune.report`.
        """
        from stacktune.report import write_report

        return write_report(self, path)

    @property
    def examples_saved(self) -> int:
        """Examples not evaluated because the search stopped their trial early."""
        return sum(t.examples_saved for t in self.trials)

    def trials_dataframe(self) -> pd.DataFrame:
        """Optuna's dataframe with objective names as value columns and stacktune's attributes."""
        frame = self.optuna_study.trials_dataframe(multi_index=False)
        if self.is_multi_objective:
            frame = frame.rename(columns={f"values_{i}": f"values_{n}" for i, n in enumerate(self.objective_names)})
        elif "value" in frame.columns:
            frame = frame.rename(columns={"value": f"values_{self.objective_names[0]}"})
        return frame


def check_wiring(program: Optimizable, dataset: Sequence[Any]) -> None:
    """Before anything is spent: alternatives check the dataset's first example.

    :class:`~stacktune.Alternatives` checks the first example against every alternative (a
    :class:`~stacktune.WiringError` naming the alternative and the field).
    """
    if isinstance(program, Alternatives):
        program.check_examples(dataset)


def _run_workers(run: Run, n_jobs: int) -> None:
    """The run's worker loop on this thread, or on ``n_jobs`` threads (the first error halts the others)."""
    if n_jobs == 1:
        run.worker()
        return
    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="stacktune-trial") as pool:
        futures = [pool.submit(run.worker) for _ in range(n_jobs)]
        try:
            for future in futures:
                future.result()
        except (KeyboardInterrupt, SystemExit):
            run.terminate()  # the trials in flight stop at their next example and are stored failed
            raise
        except BaseException:
            run.halt.set()
            raise


@contextmanager
def _terminate_on_sigterm(run: Run) -> Iterator[None]:
    """SIGTERM (a scheduler stopping the job, ``kill``) is handled like Ctrl-C: interrupted trials are stored failed.

    Only in the main thread, and only when nobody else handles SIGTERM already.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def on_sigterm(signum: int, frame: object) -> None:
        run.terminate()
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = ["Study"]
