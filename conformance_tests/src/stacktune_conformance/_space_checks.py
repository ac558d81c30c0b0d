"""Checks on the fixtures and on ``extract_variables``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from stacktune import Categorical, InvalidConfiguration, Space, is_optimizable
from stacktune_conformance._base import SuiteBase
from stacktune_conformance._recording import same_scores

MIN_DATASET_SIZE = 2


class SpaceChecks(SuiteBase):
    def test_fixtures_are_usable(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """The fixtures can prove anything: an Optimizable with at least one variable, a dataset of at
        least two examples it handles without failures, and a deterministic target (the suite compares
        behaviour by per-example scores, so two runs must agree)."""
        missing = [
            m
            for m in ("extract_variables", "apply_configuration", "evaluate")
            if not callable(getattr(optimizable, m, None))
        ]
        assert is_optimizable(optimizable) and not missing, (
            f"the `optimizable` fixture ({type(optimizable).__qualname__}) must implement the Optimizable "
            f"protocol; missing: {missing}"
        )
        assert isinstance(dataset, Sequence) and len(dataset) >= MIN_DATASET_SIZE, (
            f"the `dataset` fixture must be a sequence of at least {MIN_DATASET_SIZE} examples"
        )
        assert callable(metric), "the `metric` fixture must be a callable metric(example, prediction)"
        assert len(self.space_of(optimizable)) >= 1, "the `optimizable` fixture must expose at least one variable"
        first, second = (self.spied_evaluate(optimizable, dataset, metric)[0] for _ in range(2))
        assert not first.failures, f"the fixtures' examples must run without failures; got {list(first.failures)}"
        assert same_scores(first.scores, second.scores), (
            f"the target must be deterministic: two evaluations gave {first.scores} and {second.scores}"
        )

    def test_extract_variables_is_repeatable(self, optimizable: Any) -> None:
        """``extract_variables`` describes the target, so calling it twice gives the same space."""
        first, second = self.space_of(optimizable), self.space_of(optimizable)
        assert first.to_json() == second.to_json()

    def test_space_names_are_unique(self, optimizable: Any) -> None:
        """Every variable has its own name: a configuration is a dict keyed by name."""
        counts = Counter(v.name for v in self.space_of(optimizable).variables)
        duplicates = sorted(name for name, n in counts.items() if n > 1)
        assert not duplicates, f"duplicate variable names: {duplicates}"

    def test_space_json_round_trip(self, optimizable: Any) -> None:
        """The space survives ``to_json``/``from_json`` (what a study stores), constraints given again."""
        space = self.space_of(optimizable)
        text = space.to_json()
        restored = Space.from_json(text, constraints=space.constraints)
        assert restored.to_json() == text
        assert restored.names == space.names
        assert restored.constraint_names == space.constraint_names
        assert restored.defaults() == space.defaults()

    def test_space_defaults_are_inside_bounds(self, optimizable: Any) -> None:
        """Each variable's default (the target's current value) is a value the variable accepts, and
        the defaults together form a configuration the space (and its constraints) accepts."""
        space = self.space_of(optimizable)
        for variable in space.variables:
            if isinstance(variable, Categorical) and variable.default is None and None not in variable.keys:
                continue  # no current value among the choices: the first key stands in (Space.defaults)
            assert variable.default is not None, f"variable {variable.name!r} has no default (its current value)"
            try:
                variable.check(variable.default)
            except InvalidConfiguration as exc:
                raise AssertionError(f"default of {variable.name!r} is outside its bounds: {exc}") from None
        try:
            space.validate_configuration(space.defaults(), complete=True)
        except InvalidConfiguration as exc:
            raise AssertionError(f"the defaults are not a valid configuration: {exc}") from None

    def test_space_conditions_refer_to_earlier_variables(self, optimizable: Any) -> None:
        """A conditional variable's ``when`` names variables defined before it, with values they can
        take, so the space can be sampled in order (define-by-run)."""
        seen: dict[str, Any] = {}
        for variable in self.space_of(optimizable).variables:
            for parent, allowed in (variable.when or {}).items():
                assert parent in seen, f"{variable.name!r} is conditional on {parent!r}, which is not defined before it"
                for value in allowed:
                    try:
                        seen[parent].check(value)
                    except InvalidConfiguration as exc:
                        raise AssertionError(
                            f"{variable.name!r} is conditional on {parent!r} = {value!r}, a value "
                            f"{parent!r} cannot take: {exc}"
                        ) from None
            seen[variable.name] = variable
