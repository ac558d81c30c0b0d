"""The hypothesis strategies draw what the space accepts, and exactly what it must reject."""

from __future__ import annotations

import math

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from stacktune import Categorical, Float, Int, InvalidConfiguration, Space, constraint
from stacktune.testing import ToyProgram
from stacktune_conformance.strategies import (
    INVALID_KINDS,
    InvalidCase,
    configurations,
    invalid_configurations,
    invalid_kinds,
    variable_values,
)


@constraint("small_batch_when_long")
def small_batch_when_long(config):  # type: ignore[no-untyped-def]
    if config.get("length") == "long" and config.get("batch", 0) > 4:
        return "long inputs need batch <= 4"
    return None


def nested_space() -> Space:
    """Conditions two levels deep, stepped and log numbers, a fixed value and a constraint."""
    return Space(
        [
            Categorical("mode", ["plain", "tools"], default="plain"),
            Categorical("tool", ["search", "calc"], default="search", when={"mode": "tools"}),
            Int("depth", 1, 9, step=2, default=3, when={"tool": "search"}),
            Float("temperature", 0.0, 1.0, step=0.25, default=0.5),
            Float("top_p", 1e-3, 1.0, log=True, default=0.9),
            Int("batch", 1, 16, default=2),
            Categorical("length", ["short", "long"], default="short"),
            Categorical("seed", [0, 1, 2], default=0),
        ],
        constraints=[small_batch_when_long],
    ).fix(seed=1)


SPACES = {"toy": ToyProgram().extract_variables(), "nested": nested_space()}
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None)


@pytest.mark.parametrize("name", SPACES)
def test_configurations_are_complete_and_valid(name: str) -> None:
    space = SPACES[name]

    @FAST
    @given(configurations(space))
    def check(config: dict[str, object]) -> None:
        assert space.validate_configuration(config, complete=True) == config
        for variable in space.variables:
            assert (variable.name in config) == variable.is_active(config)
        for fixed, value in space.fixed.items():
            assert config.get(fixed, value) == value

    check()


@pytest.mark.parametrize("name", SPACES)
def test_partial_configurations_are_valid(name: str) -> None:
    space = SPACES[name]

    @FAST
    @given(configurations(space, partial=True))
    def check(config: dict[str, object]) -> None:
        assert space.validate_configuration(config) == config

    check()


def test_partial_configurations_leave_variables_out() -> None:
    space = nested_space()
    found = find(
        configurations(space, partial=True),
        lambda c: 0 < len(c) < 4,
        settings=settings(database=None, derandomize=True),
    )
    assert set(found) < set(space.names)


def test_configurations_reach_conditional_branches() -> None:
    space = nested_space()
    found = find(configurations(space), lambda c: "depth" in c, settings=settings(database=None, derandomize=True))
    assert found["mode"] == "tools" and found["tool"] == "search"


def test_configurations_respect_constraints() -> None:
    space = nested_space()
    found = find(
        configurations(space), lambda c: c["length"] == "long", settings=settings(database=None, derandomize=True)
    )
    assert found["batch"] <= 4  # type: ignore[operator]


@pytest.mark.parametrize(
    "variable",
    [
        Float("x", -2.0, 3.0, step=0.7),
        Float("x", 1e-4, 10.0, log=True),
        Int("x", -5, 20, step=5),
        Categorical("x", [None, True, 2, "a"]),
    ],
)
def test_variable_values_are_accepted(variable: Float | Int | Categorical) -> None:
    @FAST
    @given(variable_values(variable))
    def check(value: object) -> None:
        variable.check(value)

    check()


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("kind", INVALID_KINDS)
def test_invalid_configurations_are_rejected_naming_the_culprit(name: str, kind: str) -> None:
    space = SPACES[name]
    assert kind in invalid_kinds(space)

    @FAST
    @given(invalid_configurations(space, [kind]))  # type: ignore[list-item]
    def check(case: InvalidCase) -> None:
        assert case.kind == kind
        with pytest.raises(InvalidConfiguration) as info:
            space.validate_configuration(case.configuration)
        assert info.value.variable == case.variable
        if kind not in ("unknown_variable", "constraint_violated"):
            assert case.variable in space

    check()


def test_out_of_range_includes_nan_and_off_step() -> None:
    space = Space([Float("t", 0.0, 1.0, default=0.5), Int("k", 0, 10, step=5, default=5)])
    strategy = invalid_configurations(space, ["out_of_range"])
    nan = find(
        strategy,
        lambda c: isinstance(c.value, float) and math.isnan(c.value),
        settings=settings(database=None, derandomize=True),
    )
    assert nan.variable == "t"
    off_step = find(
        strategy, lambda c: c.variable == "k" and 0 < c.value < 10, settings=settings(database=None, derandomize=True)
    )
    assert off_step.value % 5


def test_invalid_kinds_follow_the_space() -> None:
    plain = Space([Categorical("c", ["a", "b"])])
    assert invalid_kinds(plain) == ("unknown_variable", "wrong_type", "unknown_choice")
    assert invalid_kinds(nested_space()) == INVALID_KINDS


def test_asking_for_an_impossible_kind_names_it() -> None:
    plain = Space([Categorical("c", ["a", "b"])])
    with pytest.raises(ValueError, match="'inactive_variable'.*can express"):
        invalid_configurations(plain, ["inactive_variable"])
    with pytest.raises(ValueError, match="unknown invalid kind 'typo'"):
        invalid_configurations(plain, ["typo"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="kinds is empty"):
        invalid_configurations(plain, [])


def test_strategies_compose_in_authors_tests() -> None:
    """The documented use: draw configurations and hand them to one's own adapter."""
    program = ToyProgram()

    @FAST
    @given(configurations(program.extract_variables()), st.integers(0, 3))
    def check(config: dict[str, object], _: int) -> None:
        applied = program.apply_configuration(config)
        assert applied.extract_variables().defaults()["strategy"] == config["strategy"]

    check()
