"""Checks on ``apply_configuration``: valid configurations in, a new target out, invalid ones rejected."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis.errors import Unsatisfiable

from stacktune import InvalidConfiguration, is_optimizable
from stacktune_conformance._base import SuiteBase
from stacktune_conformance._recording import same_scores, same_value
from stacktune_conformance.strategies import (
    InvalidCase,
    InvalidKind,
    configurations,
    invalid_configurations,
    invalid_kinds,
)

_NOT_EXPRESSIBLE = {
    "out_of_range": "the space has no Float or Int variable",
    "unknown_choice": "the space has no Categorical variable",
    "inactive_variable": "the space has no conditional (`when=`) variable that is searched",
    "constraint_violated": "the space has no constraint",
}


class ApplyChecks(SuiteBase):
    def test_apply_accepts_every_drawn_configuration(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """Every configuration drawn from the adapter's own space (complete or partial, conditions and
        constraints respected) is accepted and gives a new Optimizable, not the original."""
        space = self.space_of(optimizable)

        def check(configuration: dict[str, Any]) -> None:
            applied = optimizable.apply_configuration(configuration)
            assert is_optimizable(applied), f"apply_configuration returned {applied!r}, not an Optimizable"
            assert applied is not optimizable, "apply_configuration must return a new object"

        self.for_all(request, configurations(space, partial=True), check)

    def test_apply_never_mutates_original(
        self,
        request: pytest.FixtureRequest,
        optimizable: Any,
        dataset: Sequence[Any],
        metric: Callable[[Any, Any], Any],
    ) -> None:
        """Applying any drawn configuration leaves the original as it was: the same extracted space
        and the same per-example scores on the dataset before and after."""
        space = self.space_of(optimizable)
        space_before = space.to_json()
        scores_before = self.scores_of(optimizable, dataset, metric)

        def check(configuration: dict[str, Any]) -> None:
            optimizable.apply_configuration(configuration)
            assert self.space_of(optimizable).to_json() == space_before, (
                f"applying {configuration} changed the original's space"
            )
            scores_after = self.scores_of(optimizable, dataset, metric)
            assert same_scores(scores_after, scores_before), (
                f"applying {configuration} changed the original's behaviour: scores {scores_before} -> {scores_after}"
            )

        self.for_all(request, configurations(space), check)

    def test_apply_defaults_behaves_like_original(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """Applying the space's defaults (the current values) gives a target with the same per-example
        scores and the same defaults as the original."""
        space = self.space_of(optimizable)
        applied = optimizable.apply_configuration(space.defaults())
        assert self.space_of(applied).defaults() == space.defaults()
        original, again = self.scores_of(optimizable, dataset, metric), self.scores_of(applied, dataset, metric)
        assert same_scores(again, original), f"scores with the defaults applied {again} != original {original}"

    def test_apply_then_extract_shows_applied_values(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """After applying a configuration, ``extract_variables`` on the result reports every applied
        value as that variable's default: no variable is silently ignored."""
        space = self.space_of(optimizable)

        def check(configuration: dict[str, Any]) -> None:
            extracted = self.space_of(optimizable.apply_configuration(configuration))
            for name, value in configuration.items():
                assert name in extracted, f"variable {name!r} disappeared after applying {configuration}"
                default = extracted[name].default
                assert same_value(default, value), (
                    f"applied {name}={value!r} but the new target reports {name}={default!r}: "
                    f"the variable was ignored or changed (configuration: {configuration})"
                )

        self.for_all(request, configurations(space), check)

    def _check_rejected(self, request: pytest.FixtureRequest, optimizable: Any, kind: InvalidKind) -> None:
        space = self.space_of(optimizable)
        if kind not in invalid_kinds(space):
            pytest.skip(f"cannot build a {kind} configuration: {_NOT_EXPRESSIBLE[kind]}")

        def check(case: InvalidCase) -> None:
            with pytest.raises(InvalidConfiguration) as info:
                optimizable.apply_configuration(case.configuration)
            assert info.value.variable == case.variable, (
                f"{kind}: the error must name {case.variable!r}, it names {info.value.variable!r} "
                f"(configuration: {case.configuration})"
            )

        try:
            self.for_all(request, invalid_configurations(space, [kind]), check)
        except Unsatisfiable:
            pytest.skip(f"could not draw a {kind} configuration from this space")

    def test_rejects_unknown_variable(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """A configuration with a name the space does not have raises InvalidConfiguration naming it
        (a typo must not be silently ignored)."""
        self._check_rejected(request, optimizable, "unknown_variable")

    def test_rejects_out_of_range_value(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """A number outside a Float/Int variable's bounds (or off its step, or NaN) raises
        InvalidConfiguration naming the variable."""
        self._check_rejected(request, optimizable, "out_of_range")

    def test_rejects_wrong_type(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """A value of the wrong type (a string for a Float, a list for a Categorical, 1.5 for an Int...)
        raises InvalidConfiguration naming the variable."""
        self._check_rejected(request, optimizable, "wrong_type")

    def test_rejects_unknown_choice(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """A key that is not one of a Categorical's choice keys raises InvalidConfiguration naming the
        variable."""
        self._check_rejected(request, optimizable, "unknown_choice")

    def test_rejects_inactive_conditional_variable(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """A conditional variable given while its condition does not hold raises InvalidConfiguration
        naming it (it would otherwise be silently ignored)."""
        self._check_rejected(request, optimizable, "inactive_variable")

    def test_rejects_constraint_violation(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """A configuration that breaks one of the space's constraints raises InvalidConfiguration
        naming the constraint, before anything is spent."""
        self._check_rejected(request, optimizable, "constraint_violated")
