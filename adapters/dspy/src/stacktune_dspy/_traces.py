"""Per-predictor traces of a DSPy run, as plain JSON, and the bootstrapped demos they become.

While a program runs under ``dspy.context(trace=[])``, every ``dspy.Predict`` appends
``(predictor, inputs, prediction)`` to ``dspy.settings.trace`` (what ``BootstrapFewShot``
reads). :func:`trace_of` turns that list into ``{predictor path: [{field: value}, ...]}``
keyed by the adapter's predictor paths (the names its knobs use), its values plain JSON, since
a study stores the traces of its bootstrap. :func:`demos_of` turns stored traces back into
``dspy.Example(augmented=True, ...)`` demos per predictor, as ``BootstrapFewShot`` makes them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import dspy
from pydantic import BaseModel

#: One example's trace: per predictor path, the fields (inputs and outputs) of each of its calls.
Trace = dict[str, list[dict[str, Any]]]

#: How deep nested values are followed before the rest is written as text.
_MAX_DEPTH = 20


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON: containers followed, pydantic models dumped, anything else its text.

    Non-finite floats become text too (JSON has no NaN), tuples and sets become lists, and
    mapping keys become strings, so what is stored reads back equal.
    """
    if value is None or type(value) in (str, int, bool):
        return value
    if isinstance(value, str):  # a subclass (a str enum): its plain value
        return str(value)
    if isinstance(value, numbers.Integral):  # int enums, NumPy's integers
        return int(value)
    if isinstance(value, numbers.Real):  # floats, NumPy's too
        return float(value) if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="json"), depth + 1)
    if isinstance(value, Mapping):
        return {str(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(item, depth + 1) for item in value), key=repr)
    return str(value)


def _fields(inputs: Mapping[str, Any], prediction: Any) -> dict[str, Any]:
    outputs = dict(prediction.items()) if isinstance(prediction, dspy.Prediction) else {}
    return {str(name): plain(value) for name, value in {**inputs, **outputs}.items()}


def trace_of(steps: Sequence[Any], paths: Mapping[int, str]) -> Trace | None:
    """One run's DSPy trace by predictor path (``paths``: ``id(predictor)`` to its path); None when no known one ran.

    A step of a predictor the adapter does not know (one ``forward`` builds on the fly) is
    left out, as ``BootstrapFewShot`` leaves it out.
    """
    trace: Trace = {}
    for step in steps:
        predictor, inputs, prediction = step
        path = paths.get(id(predictor))
        if path is not None:
            trace.setdefault(path, []).append(_fields(inputs, prediction))
    return trace or None


def _entries(trace: object, number: int, known: Sequence[str]) -> Mapping[str, Sequence[Mapping[str, Any]]]:
    if not isinstance(trace, Mapping):
        raise TypeError(f"bootstrapped trace {number} must map predictor paths to lists of fields, got {trace!r}")
    for path, calls in trace.items():
        if path not in known:
            raise ValueError(
                f"bootstrapped trace {number} is of predictor {path!r}, which the program does not have "
                f"(its predictors: {list(known)}): the traces were made on another program"
            )
        if isinstance(calls, (str, bytes)) or not isinstance(calls, Sequence):
            raise TypeError(f"bootstrapped trace {number}, predictor {path!r}: a list of fields, got {calls!r}")
        for fields in calls:
            if not isinstance(fields, Mapping) or not all(isinstance(name, str) for name in fields):
                raise TypeError(f"bootstrapped trace {number}, predictor {path!r}: fields by name, got {fields!r}")
    return trace


def demos_of(traces: Sequence[object], known: Sequence[str], skip: Sequence[str] = ()) -> dict[str, list[dspy.Example]]:
    """Per predictor path, one ``dspy.Example(augmented=True, **fields)`` per traced call, in order, repeats left out.

    Traces that are None are skipped; predictors in ``skip`` (frozen ones) get none. A trace
    of a predictor the program lacks is a ValueError naming it.
    """
    demos: dict[str, list[dspy.Example]] = {}
    for number, trace in enumerate(traces):
        if trace is None:
            continue
        for path, calls in _entries(trace, number, known).items():
            if path in skip:
                continue
            pool = demos.setdefault(path, [])
            for fields in calls:
                demo = dspy.Example(augmented=True, **fields)
                if demo not in pool:
                    pool.append(demo)
    return {path: pool for path, pool in demos.items() if pool}


__all__ = ["Trace", "demos_of", "plain", "trace_of"]
