"""Which variables mattered: Optuna's parameter importance, per objective, in stacktune's terms.

:func:`importance` runs one of Optuna's importance evaluators (fANOVA by default: Optuna's
own default, a random forest over the trials' configurations that apportions the variance of
an objective among the variables) once per objective. The trials it learns from are the
complete ones and, for ``score`` in a raced study, the trials the race stopped, at their
estimated score: most trials of a raced study are stopped early, and their estimates are what
the sampler learns from too. Variables set in only some trials (conditional ones) cannot be
assessed by these evaluators and are named as left out.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial, TrialState

from stacktune.errors import StacktuneError
from stacktune.readable import ReadableSpace
from stacktune.records import ATTR_SPACE, estimated_score

if TYPE_CHECKING:
    from stacktune.study.study import Study

#: What the default evaluator is, in the words the report and ``stacktune show --importance`` print.
FANOVA = "fANOVA (optuna.importance.FanovaImportanceEvaluator, 64 trees, seed 0)"


@dataclass(frozen=True)
class Importance:
    """How much of one objective's variation across trials each variable explains (shares sum to 1)."""

    objective: str
    evaluator: str
    importances: dict[str, float] = field(default_factory=dict)  # variable -> share, largest first
    labels: dict[str, str] = field(default_factory=dict)  # variable -> its name with its description
    n_trials: int = 0
    n_estimated: int = 0  # of the trials used, those stopped by the race (at their estimated score)
    left_out: tuple[str, ...] = ()  # variables set in only some of the trials used
    note: str = ""  # why there are no importances, when there are none


def _evaluator_and_name(
    evaluator: optuna.importance.BaseImportanceEvaluator | None,
) -> tuple[optuna.importance.BaseImportanceEvaluator, str]:
    if evaluator is not None:
        return evaluator, type(evaluator).__name__
    if importlib.util.find_spec("sklearn") is None:
        raise StacktuneError(
            "parameter importance with fANOVA needs scikit-learn: pip install 'stacktune[report]' "
            "(or pass another Optuna evaluator, e.g. optuna.importance.PedAnovaImportanceEvaluator())"
        )
    return optuna.importance.FanovaImportanceEvaluator(seed=0), FANOVA


def _trials_for(study: Study, index: int, name: str) -> tuple[list[FrozenTrial], int]:
    """Trials with a value for objective ``index``, as single-objective trials; and how many are estimates."""
    used: list[FrozenTrial] = []
    estimated = 0
    for trial in study.optuna_study.get_trials(deepcopy=False):
        value: float | None = None
        if trial.state == TrialState.COMPLETE and trial.values is not None:
            value = trial.values[index]
        elif name == "score" and not study.is_multi_objective:
            value = estimated_score(trial)
            estimated += value is not None
        if value is not None:
            used.append(optuna.trial.create_trial(params=trial.params, distributions=trial.distributions, value=value))
    return used, estimated


def importance(study: Study, evaluator: optuna.importance.BaseImportanceEvaluator | None = None) -> list[Importance]:
    """One :class:`Importance` per objective of ``study`` (see the module docstring)."""
    chosen, evaluator_name = _evaluator_and_name(evaluator)
    readable = ReadableSpace(study.optuna_study.user_attrs.get(ATTR_SPACE))
    results: list[Importance] = []
    for index, objective in enumerate(study.objectives):
        trials, estimated = _trials_for(study, index, objective.name)
        names = sorted({name for trial in trials for name in trial.params})
        shared = [name for name in names if all(name in trial.params for trial in trials)]
        base = Importance(
            objective=objective.name,
            evaluator=evaluator_name,
            labels={name: readable.label(name) for name in names},
            n_trials=len(trials),
            n_estimated=estimated,
            left_out=tuple(name for name in names if name not in shared),
        )
        note = _why_not(trials, shared)
        if note:
            results.append(replace(base, note=note))
            continue
        with warnings.catch_warnings(), _quiet_optuna():
            warnings.simplefilter("ignore")  # evaluators warn about small studies; the result says how many trials
            copy = optuna.create_study(direction=objective.direction)
            copy.add_trials(trials)
            shares = optuna.importance.get_param_importances(copy, evaluator=chosen, params=shared)
        results.append(replace(base, importances={k: float(v) for k, v in shares.items()}))
    return results


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """No "A new study created in memory" line for the copy the evaluator reads."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _why_not(trials: list[FrozenTrial], shared: list[str]) -> str:
    if len(trials) < 2:
        return f"needs at least 2 trials with a value, has {len(trials)}"
    if not shared:
        return "no variable was set in every trial"
    if len({trial.value for trial in trials}) == 1:
        return f"every trial has the same value ({trials[0].value:.4g}): nothing to explain"
    if all(len({repr(trial.params[name]) for trial in trials}) == 1 for name in shared):
        return "every trial has the same configuration"
    return ""


__all__ = ["FANOVA", "Importance", "importance"]
