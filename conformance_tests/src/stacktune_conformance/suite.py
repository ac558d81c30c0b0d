"""``OptimizableTests``: the one base class an adapter's conformance test subclasses.

::

    class TestMyAdapter(OptimizableTests):
        @pytest.fixture
        def optimizable(self): ...   # the adapter wrapping a small, offline, deterministic target
        @pytest.fixture
        def dataset(self): ...       # at least two examples it handles
        @pytest.fixture
        def metric(self): ...        # metric(example, prediction) -> float | bool

Optional: a ``failing_example`` fixture (an example the target raises on) enables
``test_failing_target_counts_as_failure``; an ``at_fault_server`` fixture (``base_url`` -> the
Optimizable with its client pointed there, timing out within a second) enables
``test_failed_calls_are_counted_and_never_hang``. Each ``test_*`` method's docstring says what it
proves; docs/conformance.md lists them all.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from stacktune_conformance._apply_checks import ApplyChecks
from stacktune_conformance._capability_checks import CapabilityChecks
from stacktune_conformance._evaluate_checks import EvaluateChecks
from stacktune_conformance._overrides import overrides_without_xfail, standard_test_names
from stacktune_conformance._space_checks import SpaceChecks

GUARD = "test_no_overrides_DO_NOT_OVERRIDE"


class OptimizableTests(SpaceChecks, ApplyChecks, EvaluateChecks, CapabilityChecks):
    """The stacktune conformance suite: subclass it and give ``optimizable``, ``dataset``, ``metric``."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.stacktune_conformance]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if GUARD in cls.__dict__:
            raise TypeError(
                f"{cls.__qualname__} overrides {GUARD}, the check that keeps the suite honest; "
                f"remove it (mark individual tests @pytest.mark.xfail(reason=...) instead)"
            )

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """No standard test is overridden or deleted in the subclass unless it is marked
        ``@pytest.mark.xfail(reason="...")``: an adapter cannot quietly opt out of a check."""
        bad = overrides_without_xfail(type(self), OptimizableTests)
        assert not bad, (
            f'standard tests overridden without @pytest.mark.xfail(reason="..."): {bad}. '
            f"An adapter may only opt out of a check by marking it xfail with the reason."
        )

    @classmethod
    def standard_tests(cls) -> list[str]:
        """The names of every standard test (for docs and tooling)."""
        return standard_test_names(OptimizableTests)


__all__ = ["OptimizableTests"]
