from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter

from stacktune import Categorical, Float, Int, InvalidConfiguration, InvalidVariable, OpaqueChoice, Variable

VARIABLE = TypeAdapter(Variable)


class TestFloat:
    def test_positional_and_keyword_forms_are_equal(self) -> None:
        assert Float("t", 0.0, 2.0) == Float(name="t", low=0.0, high=2.0)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"low": 2.0, "high": 1.0}, "The `low` value must be smaller than or equal to the `high` value"),
            ({"low": 0.0, "high": 1.0, "log": True}, "larger than 0 for a log distribution"),
            ({"low": 0.1, "high": 1.0, "log": True, "step": 0.1}, "`step` is not supported when `log` is true"),
            ({"low": 0.0, "high": 1.0, "step": -0.5}, "`step` must be a positive number"),
        ],
    )
    def test_optuna_invariants_use_optuna_wording(self, kwargs: dict[str, object], message: str) -> None:
        with pytest.raises(InvalidVariable, match=message.replace("`", ".").replace("(", r"\(")):
            Float("x", **kwargs)  # type: ignore[arg-type]

    def test_default_outside_bounds_is_rejected(self) -> None:
        with pytest.raises(InvalidVariable, match=r"'t'.*default 3\.0"):
            Float("t", 0.0, 2.0, default=3.0)

    @pytest.mark.parametrize("value", [-0.1, 2.1, float("nan")])
    def test_check_out_of_range(self, value: float) -> None:
        with pytest.raises(InvalidConfiguration) as info:
            Float("t", 0.0, 2.0).check(value)
        assert info.value.variable == "t"
        assert info.value.reason == "out of range"
        assert "[0.0, 2.0]" in str(info.value)

    @pytest.mark.parametrize("value", ["0.5", True, None])
    def test_check_wrong_type(self, value: object) -> None:
        with pytest.raises(InvalidConfiguration, match="wrong type") as info:
            Float("t", 0.0, 2.0).check(value)
        assert info.value.variable == "t"

    def test_integers_are_accepted_as_floats(self) -> None:
        Float("t", 0.0, 2.0).check(1)


class TestInt:
    def test_step_and_log_rules(self) -> None:
        with pytest.raises(InvalidVariable, match="only accept step is 1 when `log`"):
            Int("n", 1, 8, log=True, step=2)
        with pytest.raises(InvalidVariable, match="positive integer"):
            Int("n", 1, 8, step=0)

    def test_values_off_the_step_grid_are_out_of_range(self) -> None:
        variable = Int("n", 0, 10, step=2)
        variable.check(4)
        with pytest.raises(InvalidConfiguration, match="with step 2"):
            variable.check(3)

    def test_float_that_is_not_an_integer_is_a_wrong_type(self) -> None:
        with pytest.raises(InvalidConfiguration, match="wrong type"):
            Int("n", 0, 10).check(2.5)

    def test_bool_is_not_an_int(self) -> None:
        with pytest.raises(InvalidConfiguration, match="wrong type"):
            Int("n", 0, 10).check(True)


class TestCategorical:
    def test_short_primitives_are_their_own_keys(self) -> None:
        variable = Categorical("n", [0, 1, "two", None, 2.5])
        assert variable.keys == (0, 1, "two", None, 2.5)
        assert variable.resolve("two") == "two"

    def test_long_texts_get_stable_readable_keys(self) -> None:
        text = "Classify the sentiment of the following review. Answer with exactly one word."
        first = Categorical("instructions", [text, "Be brief."])
        second = Categorical("instructions", [text, "Be brief."])
        key = first.keys[0]
        assert isinstance(key, str) and key.startswith("Classify the sentiment")
        assert "#" in key and len(key) < len(text)
        assert first.keys == second.keys, "keys must be stable across constructions (and processes)"
        assert first.resolve(key) == text

    def test_arbitrary_objects_keep_identity(self) -> None:
        class Strategy:
            pass

        demos_a, demos_b = [{"q": "1+1", "a": "2"}], [{"q": "2+2", "a": "4"}]
        variable = Categorical("module", [Strategy, demos_a, demos_b])
        assert variable.resolve(variable.keys[0]) is Strategy
        assert variable.resolve(variable.keys[1]) is demos_a
        assert variable.key_for(demos_b) == variable.keys[2]
        assert all(isinstance(k, str) for k in variable.keys)

    def test_mapping_gives_explicit_keys_and_default_by_object(self) -> None:
        fast, slow = object(), object()
        variable = Categorical("model", {"fast": fast, "slow": slow}, default=slow)
        assert variable.keys == ("fast", "slow")
        assert variable.default == "slow"

    def test_true_is_not_accepted_for_one(self) -> None:
        with pytest.raises(InvalidConfiguration):
            Categorical("flag", [1, 2]).check(True)

    def test_choices_equal_in_python_need_explicit_keys(self) -> None:
        with pytest.raises(InvalidVariable, match="equal in Python"):
            Categorical("flag", [True, 1])

    def test_unknown_key_error_lists_allowed_keys(self) -> None:
        with pytest.raises(InvalidConfiguration) as info:
            Categorical("style", ["terse", "verbose"]).check("chatty")
        assert info.value.variable == "style"
        assert info.value.reason == "unknown choice"
        assert "'terse', 'verbose'" in str(info.value)

    def test_empty_and_duplicate_choices_are_rejected(self) -> None:
        with pytest.raises(InvalidVariable, match="at least one choice"):
            Categorical("x", [])
        with pytest.raises(InvalidVariable, match="duplicate choice key 'a'"):
            Categorical("x", {"a": 1, "b": 2}).model_copy(update={"keys": ("a", "a")}).model_validate(
                {"name": "x", "keys": ["a", "a"]}
            )

    def test_a_string_is_not_a_sequence_of_choices(self) -> None:
        with pytest.raises(InvalidVariable, match="not a string"):
            Categorical("x", "abc")

    def test_default_must_be_a_choice(self) -> None:
        with pytest.raises(InvalidVariable, match="default 'c' is not one of"):
            Categorical("x", ["a", "b"], default="c")


class TestJsonRoundTrip:
    @pytest.mark.parametrize(
        "variable",
        [
            Float("t", 0.0, 2.0, default=0.7),
            Float("lr", 1e-5, 1e-1, log=True),
            Float("p", 0.0, 1.0, step=0.25, when={"mode": ["a", "b"]}),
            Int("k", 0, 8, step=2, default=4, description="demos"),
            Categorical("instr", ["Be brief.", "Think step by step and answer " * 4], default="Be brief."),
            Categorical("demos", [[{"q": "x", "a": "y"}], []]),
        ],
    )
    def test_json_round_trip_is_identity(self, variable: Float | Int | Categorical) -> None:
        text = VARIABLE.dump_json(variable)
        loaded = VARIABLE.validate_json(text)
        assert loaded == variable
        assert type(loaded) is type(variable)
        assert json.loads(VARIABLE.dump_json(loaded)) == json.loads(text)

    def test_opaque_choices_survive_as_labelled_placeholders(self) -> None:
        class Module:
            pass

        variable = Categorical("module", {"predict": Module, "cot": object()})
        loaded = VARIABLE.validate_json(VARIABLE.dump_json(variable))
        assert isinstance(loaded, Categorical)
        assert loaded.keys == ("predict", "cot")
        placeholder = loaded.resolve("predict")
        assert isinstance(placeholder, OpaqueChoice)
        assert placeholder.label == "predict"
        assert placeholder.type_name == "type"


class TestConditions:
    def test_when_accepts_a_value_or_a_list(self) -> None:
        assert Int("steps", 1, 5, when={"strategy": "cot"}).when == {"strategy": ("cot",)}
        assert Int("steps", 1, 5, when={"strategy": ["cot", "react"]}).when == {"strategy": ("cot", "react")}

    def test_is_active(self) -> None:
        steps = Int("steps", 1, 5, when={"strategy": ["cot", "react"]})
        assert steps.is_active({"strategy": "react"})
        assert not steps.is_active({"strategy": "direct"})
        assert not steps.is_active({})

    def test_when_values_must_be_primitive_keys(self) -> None:
        with pytest.raises(TypeError, match="choice keys"):
            Int("steps", 1, 5, when={"strategy": [object()]})
