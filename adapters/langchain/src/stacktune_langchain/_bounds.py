"""From a pydantic field or a LangChain annotation to a numeric stacktune variable.

Bounds come, in this order, from the user, from the annotation (``Annotated[...,
Interval(...)]``, ``Field(ge=..., le=...)``), and from what is known about common
sampling parameters (temperature 0..2, top_p 0..1, max_tokens 1..model profile or
:data:`DEFAULT_MAX_TOKENS`). A knob whose bounds stay unknown is not tunable and is
reported as skipped instead of guessed.
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

from stacktune import Float, Int, Variable

#: Upper bound of max_tokens-like knobs when the model's profile does not say.
DEFAULT_MAX_TOKENS = 1024

#: Fields that bound the length of the answer.
MAX_TOKENS_FIELDS = frozenset({"max_tokens", "max_completion_tokens", "max_output_tokens", "num_predict",
                               "max_new_tokens"})

#: Known ranges of common sampling parameters: kind, low, high.
KNOWN_BOUNDS: Mapping[str, tuple[Literal["float", "int"], float, float]] = {
    "temperature": ("float", 0.0, 2.0),
    "top_p": ("float", 0.0, 1.0),
    "top_k": ("int", 1, 100),
    "frequency_penalty": ("float", -2.0, 2.0),
    "presence_penalty": ("float", -2.0, 2.0),
}


#: Stand-in defaults of knobs a model leaves unset (None): the value that changes nothing.
UNSET_STANDINS: Mapping[str, float] = {"temperature": 1.0, "top_p": 1.0, "frequency_penalty": 0.0,
                                       "presence_penalty": 0.0}


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
            parts = [p for p in (at.Gt(item.gt) if item.gt is not None else None,
                                 at.Ge(item.ge) if item.ge is not None else None,
                                 at.Lt(item.lt) if item.lt is not None else None,
                                 at.Le(item.le) if item.le is not None else None) if p is not None]
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


def max_tokens_cap(model: object) -> int:
    """The model profile's max_output_tokens when it has one, else :data:`DEFAULT_MAX_TOKENS`."""
    profile = getattr(model, "profile", None)
    if isinstance(profile, Mapping):
        cap = profile.get("max_output_tokens")
        if isinstance(cap, int) and cap > 0:
            return cap
    return DEFAULT_MAX_TOKENS


def numeric_variable(name: str, field_name: str, annotated: NumericKind, current: object, *,
                     model: object = None, user_bounds: tuple[float, float] | None = None,
                     description: str | None = None) -> Variable | str:
    """A Float/Int for one numeric knob, or the reason it cannot be tuned.

    The current value is the default, and the bounds widen to hold it, so the program
    as it is stays a point of its own space; only ``user_bounds`` are taken as they are
    (the default is then the nearest bound). An unset knob (None) gets a stand-in
    default: :data:`UNSET_STANDINS`, the upper bound for max_tokens, else the lower bound.
    """
    known = KNOWN_BOUNDS.get(field_name)
    kind = annotated.kind or (known[0] if known else None)
    is_max_tokens = field_name in MAX_TOKENS_FIELDS
    if is_max_tokens:
        kind = kind or "int"
    if kind is None:
        return "not a number"
    low, high = annotated.low, annotated.high
    if is_max_tokens:
        low = 1 if low is None else low
        high = max_tokens_cap(model) if high is None else high
    elif known is not None:
        low = known[1] if low is None else low
        high = known[2] if high is None else high
    if user_bounds is not None:
        low, high = user_bounds
    if low is None or high is None:
        return "no bounds known: give them with bounds={name: (low, high)}"
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        current = high if is_max_tokens else UNSET_STANDINS.get(field_name, low)
    if user_bounds is None:
        low, high = min(low, current), max(high, current)
    default = min(max(current, low), high)
    log = is_max_tokens and low > 0
    if kind == "int":
        ilow, ihigh = math.ceil(low), math.floor(high)
        return Int(name, ilow, ihigh, log=log and ilow > 0, description=description,
                   default=min(max(round(default), ilow), ihigh))
    return Float(name, float(low), float(high), description=description, default=float(default))


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


__all__ = ["DEFAULT_MAX_TOKENS", "KNOWN_BOUNDS", "UNSET_STANDINS", "MAX_TOKENS_FIELDS", "NumericKind", "choice_values",
           "max_tokens_cap", "numeric_kind", "numeric_variable", "unwrap"]
