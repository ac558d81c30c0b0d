"""From a pydantic field or a LangChain annotation to a numeric stacktune variable.

This module reads what a field says about itself (``Annotated[..., Interval(...)]``,
``Field(ge=..., le=...)``, a model profile's ``max_output_tokens``); the ranges, scales
and unset stand-ins of known knobs come from ``stacktune.SAMPLING_KNOBS``, where a
field's bounds and a profile's cap narrow the catalogue's range. The user's bounds come
first. A knob whose bounds stay unknown is not tunable and is reported as skipped
instead of guessed.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

import annotated_types as at

from stacktune import InvalidVariable, SamplingKnob, Variable, find_knob, knob_variable


@dataclass(frozen=True)
class NumericKind:
    """What an annotation says about a number: int or float, and any bounds."""

    kind: Literal["float", "int"] | None
    low: float | None = None
    high: float | None = None


def unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip ``Annotated`` and ``Optional`` off an annotation; return the base type and metadata."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            metadata.extend(extra)
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation, metadata
            annotation = args[0]
        else:
            return annotation, metadata


def _bounds_from(metadata: Iterable[Any], kind: Literal["float", "int"] | None) -> tuple[float | None, float | None]:
    low: float | None = None
    high: float | None = None
    for item in metadata:
        parts = list(item) if isinstance(item, at.GroupedMetadata) and not isinstance(item, at.Interval) else [item]
        if isinstance(item, at.Interval):
            parts = [
                p
                for p in (
                    at.Gt(item.gt) if item.gt is not None else None,
                    at.Ge(item.ge) if item.ge is not None else None,
                    at.Lt(item.lt) if item.lt is not None else None,
                    at.Le(item.le) if item.le is not None else None,
                )
                if p is not None
            ]
        for part in parts:
            if isinstance(part, at.Ge):
                low = float(part.ge)  # type: ignore[arg-type]
            elif isinstance(part, at.Gt):
                gt = float(part.gt)  # type: ignore[arg-type]
                low = gt + 1 if kind == "int" else math.nextafter(gt, math.inf)
            elif isinstance(part, at.Le):
                high = float(part.le)  # type: ignore[arg-type]
            elif isinstance(part, at.Lt):
                lt = float(part.lt)  # type: ignore[arg-type]
                high = lt - 1 if kind == "int" else math.nextafter(lt, -math.inf)
    return low, high


def numeric_kind(annotation: Any, extra_metadata: Iterable[Any] = ()) -> NumericKind:
    """Int or float (None for anything else, bool included) with the bounds the annotation carries."""
    base, metadata = unwrap(annotation)
    kind: Literal["float", "int"] | None = None
    if base is int:
        kind = "int"
    elif base is float:
        kind = "float"
    low, high = _bounds_from([*metadata, *extra_metadata], kind)
    return NumericKind(kind, low, high)


def profile_cap(model: object) -> int | None:
    """The model profile's max_output_tokens, when it has one."""
    profile = getattr(model, "profile", None)
    if isinstance(profile, Mapping):
        cap = profile.get("max_output_tokens")
        if isinstance(cap, int) and cap > 0:
            return cap
    return None


def numeric_variable(
    name: str,
    field_name: str,
    annotated: NumericKind,
    current: object,
    *,
    model: object = None,
    user_bounds: tuple[float, float] | None = None,
    description: str | None = None,
) -> Variable | str:
    """A Float/Int for one numeric knob, or the reason it cannot be tuned.

    A knob of the catalogue (``temperature``, ``max_completion_tokens``...) follows
    ``stacktune.knob_variable``: its range narrowed by the field's bounds and the model
    profile's cap, widened to hold the current value, a stand-in default when it is
    unset (None). Another number needs bounds from its annotation or from the user.
    """
    known = find_knob(field_name)
    floor, cap = annotated.low, annotated.high
    if known is not None and known.kind != "choice":
        knob = known
        if knob.name == "max_tokens":
            profile = profile_cap(model)
            cap = profile if cap is None else cap if profile is None else min(cap, profile)
    elif annotated.kind is None:
        return "not a number"
    else:
        span = (floor, cap) if floor is not None and cap is not None else None
        knob, floor, cap = SamplingKnob(name=field_name, kind=annotated.kind, range=span), None, None
        if span is None and user_bounds is None:
            return "no bounds known: give them with bounds={name: (low, high)}"
    number = current if isinstance(current, (int, float)) and not isinstance(current, bool) else None
    try:
        return knob_variable(name, knob, number, bounds=user_bounds, cap=cap, floor=floor, description=description)
    except InvalidVariable as exc:  # e.g. a seed, searched only over bounds the user gives
        return f"{exc}: give them with bounds={{name: (low, high)}}"


def choice_values(annotation: Any) -> list[Any] | None:
    """The finite set of values of a bool, Literal or Enum annotation (None otherwise)."""
    base, _ = unwrap(annotation)
    if base is bool:
        return [False, True]
    if typing.get_origin(base) is Literal:
        return list(typing.get_args(base))
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return [member.value for member in base]
    return None


__all__ = ["NumericKind", "choice_values", "numeric_kind", "numeric_variable", "profile_cap", "unwrap"]
