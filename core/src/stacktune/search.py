"""How a study searches: which configuration to try next, and when to stop a trial early.

A search is chosen once, when the study is created (``create_study(search=...)``), and
builds the study's Optuna sampler and pruner once:

- :class:`Racing` (the default): TPE taught by the race. Each trial races the best complete
  trial so far (one objective, :mod:`stacktune.racing`) or the Pareto front (several,
  :mod:`stacktune.racing_front`), example by example, and stops once it is unlikely to win or
  to end on the front; the sampler learns from the stopped trials' estimates
  (:class:`~stacktune.racing_sampler.RacingSampler`). Trials are evaluated in full where
  racing does not apply: an objective that is not a per-example mean (no ``per_example``), or
  fewer examples than ``policy.min_dataset``.
- :class:`OptunaSearch`: any Optuna sampler and pruner, as given. ``create_study(sampler=...,
  pruner=...)`` is this search.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import optuna

from stacktune.objectives import BUILTIN_OBJECTIVES, Objective
from stacktune.racing import DEFAULT_POLICY, Race, RacingPolicy
from stacktune.racing_front import FrontRace
from stacktune.racing_sampler import RacingSampler


def default_sampler(seed: int | None = None) -> optuna.samplers.TPESampler:
    """TPE modelling the variables jointly, split by which variables are active (conditional spaces),
    and lying about running trials (parallel trials, other workers) so they are not proposed twice."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)


class Search:
    """The interface a study's search implements (see :class:`Racing` and :class:`OptunaSearch`)."""

    def sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        """The study's sampler, built once when the study is created or loaded."""
        raise NotImplementedError

    def pruner(self) -> optuna.pruners.BasePruner:
        """The study's pruner, built once when the study is created or loaded."""
        return optuna.pruners.NopPruner()

    def race(self, *, n_examples: int, objectives: Sequence[Objective]) -> Race | FrontRace | None:
        """The race of one ``optimize`` call, or None when every trial is evaluated in full."""
        return None

    def prepare(self, sampler: optuna.samplers.BaseSampler, *, n_jobs: int) -> None:
        """Adjust the built sampler to one ``optimize`` call (never rebuild it)."""


class Racing(Search):
    """stacktune's default search: TPE, and a race that stops trials unlikely to win.

    ``policy`` holds the race's knobs (:class:`~stacktune.racing.RacingPolicy`); ``base`` is the
    sampler the race teaches (default: :func:`default_sampler`). Racing needs objectives that are
    per-example means (every built-in one is; a custom :class:`~stacktune.Objective` says so with
    ``per_example``) and at least ``policy.min_dataset`` examples; otherwise trials are evaluated
    in full.
    """

    def __init__(self, policy: RacingPolicy | None = None, *, base: optuna.samplers.BaseSampler | None = None) -> None:
        self.policy = policy or DEFAULT_POLICY
        self.base = base

    def __repr__(self) -> str:
        return f"Racing(policy={self.policy!r})"

    def sampler(self, seed: int | None) -> RacingSampler:
        """A RacingSampler around ``base`` (TPE by default), so the trials the race stops still teach it."""
        return RacingSampler(self.base if self.base is not None else default_sampler(seed))

    def race(self, *, n_examples: int, objectives: Sequence[Objective]) -> Race | FrontRace | None:
        """The incumbent's race (one objective, ``score``) or the front's (several per-example means)."""
        if n_examples < self.policy.min_dataset:
            return None
        if tuple(objectives) == (BUILTIN_OBJECTIVES["score"],):
            return Race(n_examples, self.policy)
        if len(objectives) > 1 and all(o.per_example is not None for o in objectives):
            return FrontRace(n_examples, [1 if o.direction == "maximize" else -1 for o in objectives], self.policy)
        return None

    def prepare(self, sampler: optuna.samplers.BaseSampler, *, n_jobs: int) -> None:
        """Tell the racing sampler whether trials run in parallel (it then builds a whole view per trial)."""
        if isinstance(sampler, RacingSampler):
            sampler.parallel = n_jobs > 1


class OptunaSearch(Search):
    """Optuna's own search: the given sampler (default: :func:`default_sampler`) and pruner.

    Every trial runs in full unless the pruner stops it; each example's score reaches the
    pruner as it lands (see ``docs/concepts.md``).
    """

    def __init__(
        self, sampler: optuna.samplers.BaseSampler | None = None, pruner: optuna.pruners.BasePruner | None = None
    ) -> None:
        self._sampler = sampler
        self._pruner = pruner

    def __repr__(self) -> str:
        return f"OptunaSearch(sampler={self._sampler!r}, pruner={self._pruner!r})"

    def sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        """The given sampler, or TPE (:func:`default_sampler`) seeded with ``seed``."""
        return self._sampler if self._sampler is not None else default_sampler(seed)

    def pruner(self) -> optuna.pruners.BasePruner:
        """The given pruner, or none: every trial runs in full."""
        return self._pruner if self._pruner is not None else optuna.pruners.NopPruner()


def resolve_search(
    search: Search | None, sampler: optuna.samplers.BaseSampler | None, pruner: optuna.pruners.BasePruner | None
) -> Search:
    """The search a study runs: ``search``, or Optuna's given a sampler or pruner, else :class:`Racing`."""
    if search is not None:
        if sampler is not None or pruner is not None:
            raise ValueError(
                "give either search= or sampler=/pruner=, not both "
                "(OptunaSearch(sampler, pruner) is the search of a given sampler and pruner)"
            )
        if not isinstance(search, Search):
            raise TypeError(f"search must be a stacktune search (Racing(), OptunaSearch(...)), got {search!r}")
        return search
    if sampler is not None or pruner is not None:
        return OptunaSearch(sampler, pruner)
    return Racing()


__all__ = ["OptunaSearch", "Racing", "Search", "default_sampler", "resolve_search"]
