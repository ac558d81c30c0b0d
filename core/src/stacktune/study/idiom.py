"""What a framework's own idiom needs from a study, written once.

``stacktune_dspy.Tune`` and ``stacktune_langchain.tune`` take one bag of keyword options, route
each to ``create_study``, ``Study.optimize`` or their adapter, run the search, check the chosen
trials on a held-out set and hand back one trial to export. An adapter author writing the idiom
of another framework calls these.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from stacktune.errors import StacktuneError
from stacktune.evaluation import Metric
from stacktune.protocol import Optimizable
from stacktune.study.create import create_study
from stacktune.study.results import TrialResult
from stacktune.study.study import Study
from stacktune.study.verify import Verification


def keyword_options(function: Callable[..., Any], skip: Iterable[str] = ()) -> frozenset[str]:
    """The keyword parameters of ``function`` (keyword-only, or with a default) an idiom may pass through."""
    parameters = inspect.signature(function).parameters.values()
    return frozenset(p.name for p in parameters if p.kind is p.KEYWORD_ONLY or p.default is not p.empty) - set(skip)


#: Options of ``create_study`` an idiom passes on (its study name, storage and objectives are its own arguments).
STUDY_OPTIONS = keyword_options(create_study, skip=("study_name", "storage", "objectives"))
#: Options of ``Study.optimize`` an idiom passes on (``n_trials`` is its own argument).
OPTIMIZE_OPTIONS = keyword_options(Study.optimize, skip=("n_trials",))


def check_options(options: Mapping[str, Any], adapter_options: Iterable[str], *, caller: str, adapter: str) -> None:
    """Raise TypeError naming the options that none of create_study, Study.optimize and the adapter takes."""
    adapter_options = frozenset(adapter_options)
    unknown = sorted(set(options) - STUDY_OPTIONS - OPTIMIZE_OPTIONS - adapter_options)
    if unknown:
        raise TypeError(
            f"{caller} got unknown option(s) {unknown}; it takes the options of create_study {sorted(STUDY_OPTIONS)}, "
            f"of Study.optimize {sorted(OPTIMIZE_OPTIONS)} and of {adapter} {sorted(adapter_options)}"
        )


def pick(options: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The options among ``names``."""
    wanted = set(names)
    return {k: v for k, v in options.items() if k in wanted}


def search_and_choose(
    study: Study,
    program: Optimizable,
    dataset: Sequence[Any],
    metric: Metric,
    *,
    n_trials: int | None,
    options: Mapping[str, Any],
    valset: Sequence[Any] | None = None,
    verify_top: int = 1,
) -> tuple[TrialResult, list[Verification]]:
    """Optimize ``program``, verify the best ``verify_top`` trials on ``valset`` (if any), and choose one.

    The choice is :meth:`Study.choose`'s: best held-out, else the search's best. A study with no
    complete trial is an error naming it and why it stopped.
    """
    study.optimize(program, dataset, metric, n_trials=n_trials, **pick(options, OPTIMIZE_OPTIONS))
    if not study.completed_trials():
        reason = f": {study.last_stop_reason}" if study.last_stop_reason else ""
        raise StacktuneError(f"study {study.study_name!r} has no complete trial to return{reason}")
    verifications: list[Verification] = []
    if valset:
        verifications = study.verify(program, valset, metric, top=verify_top, **pick(options, {"max_concurrency"}))
    return study.choose(verifications), verifications


__all__ = ["OPTIMIZE_OPTIONS", "STUDY_OPTIONS", "check_options", "keyword_options", "pick", "search_and_choose"]
