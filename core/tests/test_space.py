from __future__ import annotations

from typing import Any

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktune import Categorical, Constraint, Float, Int, InvalidConfiguration, InvalidVariable, Space
from stacktune.testing import ToyProgram


def toy_space() -> Space:
    return ToyProgram().extract_variables()


class TestStructure:
    def test_duplicate_names_are_rejected(self) -> None:
        with pytest.raises(InvalidVariable, match="duplicate variable name 'a'"):
            Space([Float("a", 0, 1), Int("a", 0, 1)])

    def test_parents_must_come_first(self) -> None:
        with pytest.raises(InvalidVariable, match="'steps' is conditional on 'strategy', which is not defined before"):
            Space([Int("steps", 1, 3, when={"strategy": "cot"}), Categorical("strategy", ["cot", "direct"])])

    def test_condition_values_must_be_valid_for_the_parent(self) -> None:
        with pytest.raises(InvalidVariable, match="condition on 'strategy' uses 'react'"):
            Space([Categorical("strategy", ["cot", "direct"]), Int("steps", 1, 3, when={"strategy": "react"})])

    def test_access(self) -> None:
        space = toy_space()
        assert space.names == ("strategy", "steps", "temperature", "style")
        assert "steps" in space and "nope" not in space
        assert isinstance(space["temperature"], Float)
        assert space.is_conditional
        with pytest.raises(KeyError, match="no variable 'nope'"):
            space["nope"]


def test_a_space_keeps_the_choice_objects_of_its_categoricals() -> None:
    text = "a long\ntext"
    marker = object()
    categorical = Categorical("t", [text, marker])
    space = Space([categorical])
    assert categorical.resolve(categorical.keys[0]) == text
    assert space["t"].resolve(categorical.keys[1]) is marker  # type: ignore[union-attr]
    assert '"a long\\ntext"' in space.to_json()


class TestValidate:
    def test_valid_partial_configuration_is_returned(self) -> None:
        assert toy_space().validate_configuration({"temperature": 0.3}) == {"temperature": 0.3}

    @pytest.mark.parametrize(
        ("configuration", "variable", "reason"),
        [
            ({"temprature": 0.3}, "temprature", "unknown variable"),
            ({"temperature": 1.5}, "temperature", "out of range"),
            ({"temperature": "hot"}, "temperature", "wrong type"),
            ({"style": "chatty"}, "style", "unknown choice"),
            ({"strategy": "direct", "steps": 2}, "steps", "inactive variable"),
            ({"steps": 2}, "steps", "inactive variable"),  # the default strategy is "direct"
            ({"strategy": "cot", "style": "rambling"}, "no_rambling_cot", "constraint violated"),
        ],
    )
    def test_invalid_configurations_name_the_culprit(
        self, configuration: dict[str, Any], variable: str, reason: str
    ) -> None:
        with pytest.raises(InvalidConfiguration) as info:
            toy_space().validate_configuration(configuration)
        assert info.value.variable == variable
        assert info.value.reason == reason
        assert variable in str(info.value)

    def test_unknown_name_lists_the_known_ones(self) -> None:
        with pytest.raises(InvalidConfiguration, match="'temperature'"):
            toy_space().validate_configuration({"temprature": 0.3})

    def test_complete_mode_requires_every_active_variable(self) -> None:
        with pytest.raises(InvalidConfiguration, match="'steps': missing"):
            toy_space().validate_configuration({"strategy": "cot", "temperature": 0.1, "style": "terse"}, complete=True)

    def test_not_a_mapping(self) -> None:
        with pytest.raises(InvalidConfiguration, match="a mapping"):
            toy_space().validate_configuration([("temperature", 0.1)])  # type: ignore[arg-type]


class TestDerivedSpaces:
    def test_fix_keeps_the_value_and_stops_searching_it(self) -> None:
        space = toy_space().fix(style="terse")
        assert [v.name for v in space.searched] == ["strategy", "steps", "temperature"]
        assert space.defaults()["style"] == "terse"
        trial = optuna.trial.FixedTrial({"strategy": "direct", "temperature": 0.5})
        assert space.suggest(trial) == {"strategy": "direct", "temperature": 0.5, "style": "terse"}
        with pytest.raises(InvalidConfiguration, match="fixed"):
            space.validate_configuration({"style": "verbose"})

    def test_fix_checks_the_value(self) -> None:
        with pytest.raises(InvalidConfiguration, match="'temperature'"):
            toy_space().fix(temperature=9.0)

    def test_drop_removes_and_protects_children(self) -> None:
        space = toy_space().drop("temperature")
        assert "temperature" not in space
        assert len(toy_space()) == 4, "the original space is unchanged"
        with pytest.raises(InvalidVariable, match="'steps' is conditional on it"):
            toy_space().drop("strategy")
        assert toy_space().drop("strategy", "steps").names == ("temperature", "style")

    def test_add_appends_variables_and_constraints(self) -> None:
        rule = Constraint(name="cold", check=lambda c: "too hot" if c.get("temperature", 0) > 0.5 else None)
        space = toy_space().add(Int("k", 0, 4), constraints=[rule])
        assert space.names[-1] == "k"
        assert [c.name for c in space.constraints] == ["no_rambling_cot", "cold"]
        with pytest.raises(InvalidConfiguration, match="too hot"):
            space.validate_configuration({"temperature": 0.9})

    def test_constraints_given_as_plain_functions_are_named_after_them(self) -> None:
        def no_hot_terse(configuration: Any) -> str | None:
            return "no" if configuration.get("style") == "terse" else None

        space = Space([Categorical("style", ["terse", "verbose"])], constraints=[no_hot_terse])
        assert space.constraint_names == ("no_hot_terse",)
        assert space.check_constraints({"style": "terse"}) == "no_hot_terse: no"


class TestSampling:
    def test_inactive_variables_are_not_sampled(self) -> None:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        space = toy_space()
        for _ in range(30):
            trial = study.ask()
            configuration = space.suggest(trial)
            assert ("steps" in configuration) == (configuration["strategy"] == "cot")
            assert set(trial.params) == set(configuration)
            study.tell(trial, 0.0)

    def test_defaults_are_active_only(self) -> None:
        assert "steps" not in toy_space().defaults()
        assert ToyProgram(strategy="cot", steps=2).extract_variables().defaults()["steps"] == 2


class TestJson:
    def test_round_trip_with_constraints_given_again(self) -> None:
        space = toy_space().fix(style="terse")
        loaded = Space.from_json(space.to_json(), constraints=space.constraints)
        assert loaded == space
        assert loaded.check_constraints({"strategy": "cot", "style": "rambling"}) is not None

    def test_missing_constraint_code_is_reported(self) -> None:
        with pytest.raises(InvalidVariable, match="no_rambling_cot"):
            Space.from_json(toy_space().to_json())


# -- properties over generated spaces -------------------------------------------------


@st.composite
def spaces(draw: st.DrawFn) -> Space:
    variables: list[Any] = []
    n = draw(st.integers(1, 6))
    for i in range(n):
        name = f"v{i}"
        parents = [v for v in variables if isinstance(v, Categorical)]
        when = None
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            allowed = draw(st.lists(st.sampled_from(list(parent.keys)), min_size=1, unique=True))
            when = {parent.name: allowed}
        kind = draw(st.sampled_from(["float", "int", "cat"]))
        if kind == "float":
            low = draw(st.floats(-100, 100, allow_nan=False))
            high = low + draw(st.floats(0, 100, allow_nan=False))
            log = low > 0 and draw(st.booleans())
            variables.append(Float(name, low, high, log=log, when=when))
        elif kind == "int":
            low_i = draw(st.integers(-50, 50))
            high_i = low_i + draw(st.integers(0, 50))
            step = draw(st.integers(1, 3))
            variables.append(Int(name, low_i, low_i + (high_i - low_i) // step * step, step=step, when=when))
        else:
            texts = draw(st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=5, unique=True))
            variables.append(Categorical(name, texts, when=when))
    return Space(variables)


@settings(max_examples=60, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**16))
def test_every_sampled_configuration_validates(space: Space, seed: int) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    configuration = space.suggest(trial)
    assert space.validate_configuration(configuration, complete=True) == configuration


@settings(max_examples=60, deadline=None)
@given(space=spaces())
def test_json_round_trip_is_identity(space: Space) -> None:
    assert Space.from_json(space.to_json()) == space
    assert Space.from_json(space.to_json()).to_json() == space.to_json()


@settings(max_examples=40, deadline=None)
@given(space=spaces())
def test_defaults_validate(space: Space) -> None:
    space.validate_configuration(space.defaults())


optuna.logging.set_verbosity(optuna.logging.WARNING)
