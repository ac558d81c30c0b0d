"""The arguments of ``optimize``, checked before anything is spent: each error names the argument."""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from stacktune.evaluation import Metric
from stacktune.study.budget import Budget


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_dataset(dataset: object) -> Sequence[Any]:
    """A non-empty sequence of examples (a list, a tuple...); a generator or a mapping is refused, said why."""
    if isinstance(dataset, Mapping):
        raise TypeError(
            f"dataset must be a sequence of examples, got a {type(dataset).__name__} "
            f"(its keys would be the examples): pass list(dataset.values()) or a list of examples"
        )
    if isinstance(dataset, (str, bytes)) or not isinstance(dataset, Sequence):
        hint = (
            " (a generator or iterator is read once: materialize it with list(...))"
            if hasattr(dataset, "__next__") or inspect.isgenerator(dataset)
            else ""
        )
        raise TypeError(f"dataset must be a sequence of examples (a list or tuple), got {type(dataset).__name__}{hint}")
    if not len(dataset):
        raise ValueError("dataset is empty: there is nothing to evaluate a configuration on")
    return dataset


def check_metric(metric: object) -> Metric:
    """A callable that can be called as ``metric(example, prediction)``."""
    if not callable(metric):
        raise TypeError(f"metric must be a callable metric(example, prediction), got {metric!r}")
    try:
        signature = inspect.signature(metric)
    except (TypeError, ValueError):
        return metric  # type: ignore[return-value]  # a builtin without a signature: trust it
    try:
        signature.bind(None, None)
    except TypeError:
        name = getattr(metric, "__qualname__", None) or repr(metric)
        raise TypeError(
            f"metric {name}({', '.join(signature.parameters)}) cannot be called as "
            f"metric(example, prediction): "
            f"it must take the example and the prediction"
        ) from None
    return metric  # type: ignore[return-value]


def check_count(name: str, value: object, *, minimum: int, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < minimum:  # type: ignore[operator]
        raise ValueError(f"{name} must be a whole number >= {minimum}{' or None' if allow_none else ''}, got {value!r}")
    return value  # type: ignore[return-value]


def check_n_jobs(n_jobs: object) -> int:
    if n_jobs == -1 and _is_int(n_jobs):
        return os.cpu_count() or 1
    if not _is_int(n_jobs) or n_jobs < 1:  # type: ignore[operator]
        raise ValueError(f"n_jobs must be a whole number >= 1 (or -1 for one per CPU), got {n_jobs!r}")
    return n_jobs  # type: ignore[return-value]


def check_seconds(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 (or None), got {value!r}")
    return float(value)


def check_budget(budget: object) -> Budget | None:
    if budget is not None and not isinstance(budget, Budget):
        raise TypeError(f"budget must be a stacktune.Budget(usd=..., calls=..., tokens=...), got {budget!r}")
    return budget


__all__ = ["check_budget", "check_count", "check_dataset", "check_metric", "check_n_jobs", "check_seconds"]
