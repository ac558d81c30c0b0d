"""What a study optimizes: named objectives computed from an Evaluation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from stacktune.evaluation import Evaluation, ExampleOutcome

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Objective:
    """One value per trial, with the direction Optuna should push it.

    ``per_example`` gives the objective's value for one example when the objective is the mean of
    them over the dataset (as every built-in objective is): the default search can then race on
    it. Without it, trials of a study with several objectives are evaluated in full.
    """

    name: str
    direction: Direction
    compute: Callable[[Evaluation], float]
    description: str = ""
    per_example: Callable[[ExampleOutcome], float] | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("maximize", "minimize"):
            raise ValueError(
                f"objective {self.name!r}: direction must be 'maximize' or 'minimize', got {self.direction!r}"
            )

    def __call__(self, evaluation: Evaluation) -> float:
        """This objective's value for one trial's evaluation, as the float Optuna is told."""
        return float(self.compute(evaluation))


def _per_example(total: float, evaluation: Evaluation) -> float:
    return total / evaluation.n_examples if evaluation.n_examples else 0.0


BUILTIN_OBJECTIVES: dict[str, Objective] = {
    "score": Objective(
        "score", "maximize", lambda e: e.score, "mean metric over the examples", per_example=lambda o: o.score
    ),
    "cost": Objective(
        "cost",
        "minimize",
        lambda e: _per_example(e.usage.cost_usd, e),
        "USD per example",
        per_example=lambda o: o.usage.cost_usd,
    ),
    "latency": Objective(
        "latency",
        "minimize",
        lambda e: e.usage.mean_latency,
        "seconds per example",
        per_example=lambda o: o.usage.total_latency,
    ),
    "tokens": Objective(
        "tokens",
        "minimize",
        lambda e: _per_example(e.usage.total_tokens, e),
        "tokens (input + output) per example",
        per_example=lambda o: float(o.usage.total_tokens),
    ),
}

ObjectiveLike = str | Objective


def resolve_objectives(objectives: Sequence[ObjectiveLike] | ObjectiveLike) -> tuple[Objective, ...]:
    """Turn names and Objective objects into Objectives; names must be built-in."""
    if isinstance(objectives, (str, Objective)):
        objectives = (objectives,)
    resolved: list[Objective] = []
    for item in objectives:
        if isinstance(item, Objective):
            resolved.append(item)
        elif isinstance(item, str) and item in BUILTIN_OBJECTIVES:
            resolved.append(BUILTIN_OBJECTIVES[item])
        else:
            raise ValueError(
                f"unknown objective {item!r}; built-in objectives are {sorted(BUILTIN_OBJECTIVES)}, "
                f"or pass stacktune.Objective(name, direction, compute)"
            )
    if not resolved:
        raise ValueError("a study needs at least one objective")
    names = [o.name for o in resolved]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"objective names must be unique, repeated: {duplicates}")
    return tuple(resolved)
