"""Verifying what a search chose on examples it never saw.

Any search overfits the examples it searched on, and racing stops most trials early, so
the chosen point's figures are optimistic. :func:`verify` evaluates the best trials (or the
Pareto front) again, in full, on a held-out set, stores what it measured in the study (the
study user attribute :data:`ATTR_VERIFIED`, by trial number) and reports, for each point,
the gap between the search's figures and the held-out ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from stacktune.evaluation import EvaluationSummary, Metric
from stacktune.protocol import Optimizable
from stacktune.records import dataset_fingerprint
from stacktune.secrets import redact
from stacktune.study._arguments import check_count, check_dataset, check_metric
from stacktune.study._trials import evaluate_candidate, objective_values
from stacktune.study.results import TrialResult

if TYPE_CHECKING:
    from stacktune.study.study import Study

ATTR_VERIFIED = "stacktune:verified"


class Verification(BaseModel):
    """One trial evaluated again on held-out examples: its search figures beside the held-out ones."""

    model_config = ConfigDict(frozen=True)

    number: int
    configuration: dict[str, Any]
    search: dict[str, float]
    heldout: dict[str, float]
    evaluation: EvaluationSummary
    dataset: str  # the held-out set's fingerprint

    @property
    def gap(self) -> dict[str, float]:
        """Held-out minus search, per objective (negative score gap: the search was optimistic)."""
        return {name: self.heldout[name] - self.search[name] for name in self.search if name in self.heldout}


def chosen_trials(study: Study, top: int) -> list[TrialResult]:
    """The best ``top`` complete trials (one objective), or the Pareto front (several), distinct configurations."""
    if study.is_multi_objective:
        candidates = study.pareto_front()
    else:
        objective = study.objectives[0]
        candidates = sorted(
            study.completed_trials(), key=lambda t: t.values[objective.name], reverse=objective.direction == "maximize"
        )
    chosen: list[TrialResult] = []
    seen: set[str] = set()
    for trial in candidates:
        key = json.dumps(trial.configuration, sort_keys=True)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
    return chosen if study.is_multi_objective else chosen[:top]


def verify(
    study: Study,
    program: Optimizable,
    dataset: Sequence[Any],
    metric: Metric,
    *,
    top: int = 1,
    max_concurrency: int = 1,
) -> list[Verification]:
    """Evaluate the chosen trials in full on ``dataset`` and store the results in the study."""
    dataset = check_dataset(dataset)
    metric = check_metric(metric)
    top = check_count("top", top, minimum=1, allow_none=False) or 1
    check_count("max_concurrency", max_concurrency, minimum=1, allow_none=False)
    fingerprint = dataset_fingerprint(dataset)
    stored: dict[str, Any] = dict(study.optuna_study.user_attrs.get(ATTR_VERIFIED, {}))
    results: list[Verification] = []
    for trial in chosen_trials(study, top):
        candidate = program.apply_configuration(trial.configuration)
        evaluation = evaluate_candidate(candidate, dataset, metric, lambda index, score: None, max_concurrency)
        values = objective_values(study.objectives, evaluation)
        result = Verification(
            number=trial.number,
            configuration=trial.configuration,
            search=dict(trial.values),
            heldout=dict(zip(study.objective_names, values, strict=True)),
            evaluation=evaluation.summary(),
            dataset=fingerprint,
        )
        stored[str(trial.number)] = result.model_dump(mode="json")
        results.append(result)
    study.optuna_study.set_user_attr(ATTR_VERIFIED, redact(stored))
    return results


def choose(study: Study, verifications: Sequence[Verification] = ()) -> TrialResult:
    """The trial to hand back: the best held-out first objective among ``verifications``, else the search's best.

    With several objectives, "the search's best" is the Pareto front's point best on the first
    objective (the front's trade-offs stay in ``study.pareto_front()``). Ties go to the earlier trial.
    """
    first = study.objectives[0]
    sign = 1.0 if first.direction == "maximize" else -1.0
    trials = {t.number: t for t in study.trials}
    usable = [v for v in verifications if v.number in trials and first.name in v.heldout]
    if usable:
        best = max(usable, key=lambda v: (sign * v.heldout[first.name], -v.number))
        return trials[best.number]
    chosen = chosen_trials(study, top=1)
    if not chosen:
        raise ValueError(f"study {study.study_name!r} has no complete trial yet")
    return max(chosen, key=lambda t: (sign * t.values[first.name], -t.number))


def verified(study: Study) -> list[Verification]:
    """What :func:`verify` stored in the study, by trial number."""
    stored = study.optuna_study.user_attrs.get(ATTR_VERIFIED, {})
    return sorted((Verification.model_validate(v) for v in stored.values()), key=lambda v: v.number)


__all__ = ["ATTR_VERIFIED", "Verification", "choose", "chosen_trials", "dataset_fingerprint", "verified", "verify"]
