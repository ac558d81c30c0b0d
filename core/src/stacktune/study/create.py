"""Creating, loading and listing studies in any Optuna storage."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import optuna

from stacktune.errors import StacktuneError
from stacktune.objectives import Objective, ObjectiveLike, resolve_objectives
from stacktune.records import ATTR_OBJECTIVES
from stacktune.search import Search, resolve_search
from stacktune.study.study import Study

if TYPE_CHECKING:
    import pluggy

#: Where studies go when no storage is given: a SQLite file in the working directory.
DEFAULT_STORAGE = "sqlite:///stacktune.db"

Storage = str | optuna.storages.BaseStorage


def _storage(storage: Storage | None) -> Storage:
    return DEFAULT_STORAGE if storage is None else storage


def create_study(
    study_name: str | None = None,
    storage: Storage | None = None,
    objectives: Sequence[ObjectiveLike] | ObjectiveLike = ("score",),
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    load_if_exists: bool = True,
    *,
    search: Search | None = None,
    seed: int | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Study:
    """Create (or, by default, load) a study.

    ``storage`` is any Optuna storage or URL; by default ``sqlite:///stacktune.db`` in
    the working directory, which ``optuna-dashboard`` opens. ``objectives`` are names
    (``score`` maximized; ``cost``, ``latency``, ``tokens`` minimized) or
    :class:`~stacktune.Objective` objects. ``search`` is how configurations are chosen:
    :class:`~stacktune.Racing` by default (TPE, and trials raced against the best so far);
    a ``sampler`` or ``pruner`` gives Optuna's own search with them. ``seed`` seeds the
    default sampler.
    """
    resolved = resolve_objectives(objectives)
    chosen = resolve_search(search, sampler, pruner)
    url = _storage(storage)
    optuna_study = optuna.create_study(storage=url, sampler=chosen.sampler(seed), pruner=chosen.pruner(),
                                       study_name=study_name, load_if_exists=load_if_exists,
                                       directions=[o.direction for o in resolved])
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
    return Study(optuna_study, resolved, chosen, plugin_manager=plugin_manager,
                 storage_url=url if isinstance(url, str) else None)


def load_study(
    study_name: str,
    storage: Storage | None = None,
    *,
    objectives: Sequence[Objective] = (),
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    search: Search | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Study:
    """Load a stored study. Custom objectives are code: pass them again (matched by name)."""
    chosen = resolve_search(search, sampler, pruner)
    url = _storage(storage)
    optuna_study = optuna.load_study(study_name=study_name, storage=url, sampler=chosen.sampler(None),
                                     pruner=chosen.pruner())
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
    return Study(optuna_study, resolved, chosen, plugin_manager=plugin_manager,
                 storage_url=url if isinstance(url, str) else None)


def study_summaries(storage: Storage | None = None) -> list[dict[str, Any]]:
    """Name, trial count and objectives of every study in a storage."""
    summaries = optuna.get_all_study_summaries(storage=_storage(storage))
    return [{"study_name": s.study_name, "n_trials": s.n_trials,
             "objectives": s.user_attrs.get(ATTR_OBJECTIVES)} for s in summaries]


__all__ = ["DEFAULT_STORAGE", "create_study", "load_study", "study_summaries"]
