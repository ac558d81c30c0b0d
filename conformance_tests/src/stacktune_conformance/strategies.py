"""Hypothesis strategies over a :class:`stacktune.Space`.

``configurations(space)`` draws configurations the space accepts (conditions, fixed
values and constraints respected); ``invalid_configurations(space)`` draws
configurations it must reject, each with the variable the error has to name. The
conformance suite is built on them, and adapter authors can reuse them in their own
property tests::

    @given(config=configurations(my_adapter.extract_variables()))
    def test_my_adapter(config): ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from hypothesis import assume
from hypothesis import strategies as st

from stacktune import Categorical, Configuration, Float, Int, Primitive, Space, Variable

InvalidKind: TypeAlias = Literal[
    "unknown_variable", "out_of_range", "wrong_type", "unknown_choice", "inactive_variable", "constraint_violated"
]

#: Every way a configuration can be invalid, in the order the suite checks them.
INVALID_KINDS: tuple[InvalidKind, ...] = (
    "unknown_variable",
    "out_of_range",
    "wrong_type",
    "unknown_choice",
    "inactive_variable",
    "constraint_violated",
)


_CANDIDATES = 16


@dataclass(frozen=True)
class InvalidCase:
    """A configuration that must be rejected, and what the ``InvalidConfiguration`` must name.

    ``variable`` is the culprit: the bad variable, or the broken constraint's name for
    ``constraint_violated``.
    """

    kind: InvalidKind
    variable: str
    configuration: dict[str, Any]
    value: Any


def variable_values(variable: Variable) -> st.SearchStrategy[Primitive]:
    """Values a variable accepts (Categorical: its choice keys)."""
    if isinstance(variable, Categorical):
        return st.sampled_from(variable.keys)
    if isinstance(variable, Int):
        low, step = variable.low, variable.step
        return st.integers(0, (variable.high - low) // step).map(lambda k: low + k * step)
    if variable.step is not None:
        flow, fhigh, fstep = variable.low, variable.high, variable.step
        n_steps = math.floor((fhigh - flow) / fstep + 1e-9)
        return st.integers(0, n_steps).map(lambda k: min(flow + k * fstep, fhigh))
    return st.floats(variable.low, variable.high, allow_nan=False)


@st.composite
def _unconstrained(draw: st.DrawFn, space: Space) -> Configuration:
    config: Configuration = {}
    for variable in space.variables:
        if variable.is_active(config):
            config[variable.name] = (
                space.fixed[variable.name] if variable.name in space.fixed else draw(variable_values(variable))
            )
    return config


@st.composite
def configurations(draw: st.DrawFn, space: Space, *, partial: bool = False) -> Configuration:
    """Configurations ``space`` accepts.

    Variables are drawn in order, a conditional one only when its condition holds, fixed
    ones take their fixed value, and draws that break a constraint are rejected (so a
    space whose constraints reject almost everything makes hypothesis complain). With
    ``partial=True`` some variables are left out, which means "keep the current value".
    """
    config = draw(_unconstrained(space))
    if partial:
        # Same rule as Space.validate_configuration: a missing parent keeps its default.
        defaults = space.defaults()
        kept: Configuration = {}
        for variable in space.variables:
            if variable.name in config and draw(st.booleans()) and variable.is_active({**defaults, **kept}):
                kept[variable.name] = config[variable.name]
        config = kept
    # Space.validate_configuration checks constraints with missing variables at their defaults.
    assume(space.check_constraints({**space.defaults(), **config}) is None)
    return config


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _primitives() -> st.SearchStrategy[Primitive]:
    return st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))


def _non_primitives() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.just(object()),
    )


def _out_of_range(variable: Variable) -> st.SearchStrategy[Any]:
    if isinstance(variable, Int):
        options = [st.integers(max_value=variable.low - 1), st.integers(min_value=variable.high + 1)]
        if variable.step > 1 and variable.high > variable.low:
            low, step, n = variable.low, variable.step, (variable.high - variable.low) // variable.step
            options.append(
                st.tuples(st.integers(0, max(n - 1, 0)), st.integers(1, step - 1)).map(
                    lambda kr: low + kr[0] * step + kr[1]
                )
            )
        return st.one_of(options)
    assert isinstance(variable, Float)
    floats: list[st.SearchStrategy[float]] = [st.just(math.nan)]
    if not math.isinf(variable.low):
        floats.append(st.floats(max_value=variable.low, exclude_max=True, allow_nan=False))
    if not math.isinf(variable.high):
        floats.append(st.floats(min_value=variable.high, exclude_min=True, allow_nan=False))
    return st.one_of(floats)


def _wrong_type(variable: Variable) -> st.SearchStrategy[Any]:
    if isinstance(variable, Categorical):
        return _non_primitives()
    wrong: list[st.SearchStrategy[Any]] = [st.text(max_size=8), st.none(), st.booleans(), _non_primitives()]
    if isinstance(variable, Int):
        wrong.append(st.floats(allow_nan=False).filter(lambda x: not x.is_integer()))
    return st.one_of(wrong)


def _unknown_choice(variable: Variable) -> st.SearchStrategy[Any]:
    assert isinstance(variable, Categorical)
    keys = variable.keys
    return _primitives().filter(lambda v: not any(_same(v, k) for k in keys))


_CORRUPTIONS: dict[str, tuple[Callable[[Variable], bool], Callable[[Variable], st.SearchStrategy[Any]]]] = {
    "out_of_range": (lambda v: isinstance(v, (Float, Int)), _out_of_range),
    "wrong_type": (lambda v: True, _wrong_type),
    "unknown_choice": (lambda v: isinstance(v, Categorical), _unknown_choice),
}


def invalid_kinds(space: Space) -> tuple[InvalidKind, ...]:
    """The kinds of invalid configuration this space can express (e.g. no conditional variable: no inactive one)."""
    kinds: list[InvalidKind] = ["unknown_variable"]
    if any(isinstance(v, (Float, Int)) for v in space.variables):
        kinds.append("out_of_range")
    if space.variables:
        kinds.append("wrong_type")
    if any(isinstance(v, Categorical) for v in space.variables):
        kinds.append("unknown_choice")
    if any(v.when and v.name not in space.fixed for v in space.variables):
        kinds.append("inactive_variable")
    if space.constraints:
        kinds.append("constraint_violated")
    return tuple(kinds)


@st.composite
def _unknown_variable(draw: st.DrawFn, space: Space) -> InvalidCase:
    base = draw(configurations(space))
    name = draw(st.text(min_size=1, max_size=16).filter(lambda n: n not in space))
    value = draw(_primitives())
    return InvalidCase("unknown_variable", name, {name: value, **base}, value)


@st.composite
def _corrupted(draw: st.DrawFn, space: Space, kind: InvalidKind) -> InvalidCase:
    eligible, bad_values = _CORRUPTIONS[kind]
    base = draw(configurations(space))
    candidates = [v for v in space.variables if v.name in base and eligible(v)]
    assume(candidates)
    variable = draw(st.sampled_from(candidates))
    value = draw(bad_values(variable))
    return InvalidCase(kind, variable.name, {**base, variable.name: value}, value)


@st.composite
def _inactive_variable(draw: st.DrawFn, space: Space) -> InvalidCase:
    base = draw(configurations(space))
    effective = {**space.defaults(), **base}
    candidates = [v for v in space.variables if v.when and v.name not in base and not v.is_active(effective)]
    assume(candidates)
    variable = draw(st.sampled_from(candidates))
    value = draw(variable_values(variable))
    return InvalidCase("inactive_variable", variable.name, {**base, variable.name: value}, value)


@st.composite
def _constraint_violated(draw: st.DrawFn, space: Space) -> InvalidCase:
    # Several candidates per draw: constraints usually reject only a corner of the space.
    defaults = space.defaults()
    for config in draw(st.lists(_unconstrained(space), min_size=_CANDIDATES, max_size=_CANDIDATES)):
        broken = [rule.name for rule in space.constraints if rule({**defaults, **config})]
        if broken:
            return InvalidCase("constraint_violated", broken[0], config, None)
    assume(False)
    raise AssertionError("unreachable")  # pragma: no cover


def invalid_configurations(space: Space, kinds: Iterable[InvalidKind] | None = None) -> st.SearchStrategy[InvalidCase]:
    """Configurations ``space`` must reject, as :class:`InvalidCase` (one invalid thing each).

    ``kinds`` restricts the draw (default: every kind the space can express, see
    :func:`invalid_kinds`); asking for a kind the space cannot express is an error.
    """
    possible = invalid_kinds(space)
    wanted = tuple(possible if kinds is None else kinds)
    for kind in wanted:
        if kind not in INVALID_KINDS:
            raise ValueError(f"unknown invalid kind {kind!r}; known: {list(INVALID_KINDS)}")
        if kind not in possible:
            raise ValueError(
                f"this space cannot express an invalid configuration of kind {kind!r}; it can express {list(possible)}"
            )
    if not wanted:
        raise ValueError("kinds is empty: ask for at least one kind of invalid configuration")
    built: list[st.SearchStrategy[InvalidCase]] = []
    for kind in wanted:
        if kind == "unknown_variable":
            built.append(_unknown_variable(space))
        elif kind == "inactive_variable":
            built.append(_inactive_variable(space))
        elif kind == "constraint_violated":
            built.append(_constraint_violated(space))
        else:
            built.append(_corrupted(space, kind))
    return st.one_of(built)


__all__ = [
    "INVALID_KINDS",
    "InvalidCase",
    "InvalidKind",
    "configurations",
    "invalid_configurations",
    "invalid_kinds",
    "variable_values",
]
