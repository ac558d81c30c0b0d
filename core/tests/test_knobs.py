"""The adapter kit: the catalogue of LLM knobs and the helpers every adapter used to write."""

from __future__ import annotations

import pytest

from stacktune import (
    SAMPLING_KNOBS,
    Categorical,
    Constraint,
    Float,
    Int,
    InvalidConfiguration,
    InvalidVariable,
    SamplingKnob,
    Space,
    find_knob,
    knob_variable,
    leaves_unset,
)

# -- the catalogue ------------------------------------------------------------------


def test_the_catalogue_has_the_common_knobs_with_one_range_each() -> None:
    assert {
        "temperature",
        "top_p",
        "max_tokens",
        "top_k",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
    } <= set(SAMPLING_KNOBS)
    assert SAMPLING_KNOBS["temperature"].range == (0.0, 1.5) and SAMPLING_KNOBS["temperature"].step == 0.05
    assert SAMPLING_KNOBS["top_p"].range == (0.1, 1.0)
    assert SAMPLING_KNOBS["max_tokens"].range == (16, 4096) and SAMPLING_KNOBS["max_tokens"].log
    assert SAMPLING_KNOBS["top_k"].kind == "int" and SAMPLING_KNOBS["top_k"].log
    assert SAMPLING_KNOBS["seed"].range is None and SAMPLING_KNOBS["stop"].kind == "choice"


def test_aliases_find_the_same_knob() -> None:
    for alias in ("max_completion_tokens", "max_output_tokens", "num_predict", "max_new_tokens"):
        assert find_knob(alias) is SAMPLING_KNOBS["max_tokens"]
    assert find_knob("temperature") is SAMPLING_KNOBS["temperature"]
    assert find_knob("mirostat") is None


def test_unknown_knob_names_the_culprit_and_the_catalogue() -> None:
    with pytest.raises(InvalidVariable, match=r"unknown LLM knob 'temprature'.*'temperature'"):
        knob_variable("x", "temprature", 0.5)


# -- knob_variable: ranges ------------------------------------------------------------


def test_a_set_knob_gets_the_catalogue_range_and_its_value_as_default() -> None:
    variable = knob_variable("answer.temperature", "temperature", 0.7, description="temperature of answer")
    assert isinstance(variable, Float)
    assert (variable.low, variable.high, variable.step, variable.default) == (0.0, 1.5, 0.05, 0.7)
    assert variable.description == "temperature of answer"


def test_max_tokens_is_a_log_scaled_int() -> None:
    variable = knob_variable("m", "max_completion_tokens", 256)
    assert isinstance(variable, Int) and (variable.low, variable.high, variable.log, variable.default) == (
        16,
        4096,
        True,
        256,
    )


def test_without_bounds_the_range_widens_to_hold_the_current_value() -> None:
    hot = knob_variable("t", "temperature", 1.8)
    assert (hot.low, hot.high, hot.default, hot.step) == (0.0, 1.8, 1.8, 0.05)
    odd = knob_variable("t", "temperature", 1.83)
    assert (odd.high, odd.step) == (1.83, None)  # no whole number of 0.05 steps: searched continuously
    short = knob_variable("m", "max_tokens", 4)
    assert (short.low, short.high, short.default) == (4, 4096, 4)


def test_user_bounds_are_taken_as_they_are_and_the_default_is_the_nearest_bound() -> None:
    narrow = knob_variable("t", "temperature", 0.7, bounds=(0.0, 0.5))
    assert (narrow.low, narrow.high, narrow.default) == (0.0, 0.5, 0.5)
    inside = knob_variable("t", "temperature", 0.3, bounds=(0.2, 0.4))
    assert (inside.low, inside.high, inside.default) == (0.2, 0.4, 0.3)


def test_the_catalogue_range_given_as_bounds_counts_as_none_given() -> None:
    variable = knob_variable("t", "temperature", 1.8, bounds=(0.0, 1.5))
    assert (variable.high, variable.default) == (1.8, 1.8)


def test_a_cap_narrows_the_range_and_the_unset_stand_in_follows_it() -> None:
    capped = knob_variable("m", "max_tokens", None, cap=256)
    assert (capped.low, capped.high, capped.default) == (16, 256, 256)
    floored = knob_variable("t", "temperature", 0.4, floor=0.2, cap=1.2)
    assert (floored.low, floored.high) == (0.2, 1.2)


def test_target_limits_outside_the_catalogue_range_win() -> None:
    variable = knob_variable("t", "temperature", 2.0, floor=1.6, cap=3.0)
    assert (variable.low, variable.high, variable.default) == (1.6, 3.0, 2.0)


@pytest.mark.parametrize("bounds", [(1.0, 0.0), (0.1, 0.2, 0.3)])
def test_bad_bounds_name_the_knob(bounds: tuple[float, ...]) -> None:
    with pytest.raises(InvalidVariable, match=r"bounds for knob 'temperature' must be a \(low, high\) pair"):
        knob_variable("t", "temperature", 0.5, bounds=bounds)  # type: ignore[arg-type]


def test_a_value_that_is_no_number_is_reported() -> None:
    with pytest.raises(InvalidVariable, match=r"'t' \(temperature\): the program's value 'hot' is not a number"):
        knob_variable("t", "temperature", "hot")  # type: ignore[arg-type]


def test_an_own_knob_for_a_field_the_catalogue_does_not_know() -> None:
    own = SamplingKnob(name="repeat_penalty", kind="float", range=(1.0, 1.5))
    variable = knob_variable("model.repeat_penalty", own, 1.1)
    assert isinstance(variable, Float) and (variable.low, variable.high, variable.default) == (1.0, 1.5, 1.1)


# -- knob_variable: unset knobs -------------------------------------------------------


@pytest.mark.parametrize(
    ("knob", "stand_in"),
    [
        ("temperature", 1.0),
        ("top_p", 1.0),
        ("max_tokens", 4096),
        ("top_k", 100),
        ("frequency_penalty", 0.0),
        ("presence_penalty", 0.0),
    ],
)
def test_an_unset_knob_gets_its_one_stand_in_and_says_so(knob: str, stand_in: float) -> None:
    variable = knob_variable(f"m.{knob}", knob, None, description=knob)
    assert variable.default == stand_in and type(variable.default) is type(stand_in)
    assert variable.description == f"{knob} (unset now: {stand_in:g} stands for the provider's default)"


def test_applying_exactly_the_stand_in_leaves_the_knob_unset() -> None:
    variable = knob_variable("t", "temperature", None)
    assert leaves_unset(variable.default, 1.0)
    assert not leaves_unset(variable.default, 0.9)
    assert not leaves_unset(variable.default, 1)  # an explicit int 1 is the user's value, applied
    assert not leaves_unset(None, None)


def test_seed_is_searched_only_over_bounds_the_user_gives() -> None:
    with pytest.raises(InvalidVariable, match=r"knob 'seed' is searched only over bounds you give"):
        knob_variable("seed", "seed", None)
    seeds = knob_variable("seed", "seed", None, bounds=(0, 4))
    assert isinstance(seeds, Int) and (seeds.low, seeds.high, seeds.default) == (0, 4, 0)


def test_stop_is_a_choice_offered_with_candidates() -> None:
    with pytest.raises(InvalidVariable, match=r"knob 'stop' is a choice, not a range.*Categorical.with_current"):
        knob_variable("stop", "stop", None)


# -- Categorical.with_current -------------------------------------------------------


def test_with_current_puts_a_missing_current_value_first() -> None:
    variable = Categorical.with_current("instructions", ["Be brief.", "Be kind."], "Answer.")
    assert variable.keys == ("Answer.", "Be brief.", "Be kind.") and variable.default == "Answer."


def test_with_current_keeps_the_order_when_the_current_value_is_a_candidate() -> None:
    variable = Categorical.with_current("instructions", ["Be brief.", "Be kind."], "Be kind.")
    assert variable.keys == ("Be brief.", "Be kind.") and variable.default == "Be kind."


def test_with_current_drops_repeated_candidates() -> None:
    variable = Categorical.with_current("demos", [[1, 2], [1, 2], []], [3])
    assert list(variable.choices.values()) == [[3], [1, 2], []]
    assert variable.resolve(variable.default) == [3]


def test_with_current_in_a_mapping_uses_the_current_key() -> None:
    big, small, mine = object(), object(), object()
    variable = Categorical.with_current("model", {"big": big, "small": small}, mine)
    assert variable.keys == ("current", "big", "small") and variable.resolve("current") is mine
    assert Categorical.with_current("model", {"big": big, "small": small}, small).default == "small"
    with pytest.raises(InvalidVariable, match=r"'model': the candidate key 'current' is reserved"):
        Categorical.with_current("model", {"current": big}, mine)


def test_with_current_none_is_the_candidates_alone_and_no_candidates_is_the_current_value() -> None:
    assert Categorical.with_current("x", ["a", "b"], None).keys == ("a", "b")
    alone = Categorical.with_current("x", [], "a")
    assert alone.keys == ("a",) and alone.default == "a"


# -- Space.with_defaults, Space.resolve, Constraint.of ------------------------------


def space() -> Space:
    return Space(
        [
            Float("temperature", 0.0, 1.5, default=0.7),
            Int("max_tokens", 16, 4096, default=256),
            Categorical("instructions", {"short": "Be brief.", "long": "Explain."}, default="short"),
        ]
    )


def test_with_defaults_sets_new_defaults_in_each_variables_kind() -> None:
    configured = space().with_defaults({"temperature": 1, "max_tokens": 64.0, "instructions": "long"})
    assert configured.defaults() == {"temperature": 1.0, "max_tokens": 64, "instructions": "long"}
    assert type(configured["temperature"].default) is float and type(configured["max_tokens"].default) is int
    assert space().defaults()["temperature"] == 0.7  # the original space is unchanged


def test_with_defaults_keeps_fixed_values_and_constraints() -> None:
    rule = Constraint(name="cool", check=lambda c: "too hot" if c.get("temperature", 0) > 1 else None)
    base = Space(list(space()), constraints=[rule]).fix(max_tokens=32)
    configured = base.with_defaults({"temperature": 0.2})
    assert configured.fixed == {"max_tokens": 32} and configured.constraint_names == ("cool",)


def test_with_defaults_rejects_a_bad_value_and_an_unknown_name() -> None:
    with pytest.raises(InvalidConfiguration, match=r"'temperature': out of range: got 3.0"):
        space().with_defaults({"temperature": 3.0})
    with pytest.raises(InvalidConfiguration, match=r"'top_p': unknown variable"):
        space().with_defaults({"top_p": 0.5})


def test_resolve_turns_keys_into_objects_and_numbers_into_their_kind() -> None:
    resolved = space().resolve({"instructions": "long", "temperature": 1, "max_tokens": 32.0})
    assert resolved == {"instructions": "Explain.", "temperature": 1.0, "max_tokens": 32}
    assert type(resolved["temperature"]) is float and type(resolved["max_tokens"]) is int


def test_resolve_names_the_culprit() -> None:
    with pytest.raises(InvalidConfiguration, match=r"'instructions': unknown choice: got 'medium'"):
        space().resolve({"instructions": "medium"})
    with pytest.raises(InvalidConfiguration, match=r"'top_p': unknown variable"):
        space().resolve({"top_p": 0.5})


def test_constraint_of_names_a_function_after_itself() -> None:
    def no_long_and_hot(configuration: object) -> str | None:
        return None

    rule = Constraint.of(no_long_and_hot)
    assert isinstance(rule, Constraint) and rule.name == "no_long_and_hot" and rule({}) is None
    assert Constraint.of(rule) is rule
    assert Constraint.of(type("Check", (), {"__call__": lambda self, c: None})(), 3).name == "constraint3"
    with pytest.raises(TypeError, match=r"constraint #2 must be a Constraint or a callable, got 'x'"):
        Constraint.of("x", 2)  # type: ignore[arg-type]


class TestDemoKnobs:
    def test_how_many_and_which_with_the_pool_hash_in_every_key(self) -> None:
        from stacktune.knobs import DEMO_ORDERS, demo_order_key, demo_variables

        count, order = demo_variables("step0.prompt", limit=3, pool_size=5, digest="abcd1234", when={"program": ["a"]})
        assert (count.name, count.low, count.high, count.default) == ("step0.prompt.n_demos", 0, 3, 0)
        assert order.name == "step0.prompt.demo_order" and len(order.choices) == DEMO_ORDERS
        assert all(key.endswith("@abcd1234") for key in order.choices) and order.default == "given@abcd1234"
        assert order.when == {"program": ("a",), "step0.prompt.n_demos": (1, 2, 3)}, "only when demos are shown"
        assert count.when == {"program": ("a",)}
        assert demo_order_key(2, "ff") == "shuffle-2@ff"

    def test_one_demo_has_one_order_and_no_prefix_means_bare_names(self) -> None:
        from stacktune.knobs import demo_variables

        assert [v.name for v in demo_variables("", limit=1, pool_size=1, digest="x")] == ["n_demos"]
        assert [v.name for v in demo_variables("", limit=1, pool_size=2, digest="x", orders=1)] == ["n_demos"]
        count, order = demo_variables("", limit=3, pool_size=4, digest="x", low=1, n_demos=3)
        assert (count.low, count.default) == (1, 3) and order.when == {"n_demos": (1, 2, 3)}

    def test_orderings_are_seeded_and_the_digest_follows_the_pool(self) -> None:
        from stacktune.knobs import demo_ordering, demo_pool_digest

        assert demo_ordering(5, 0) == [0, 1, 2, 3, 4]
        assert sorted(demo_ordering(5, 3)) == [0, 1, 2, 3, 4] and demo_ordering(5, 3) == demo_ordering(5, 3)
        assert demo_pool_digest([{"a": 1, "b": 2}]) == demo_pool_digest([{"b": 2, "a": 1}])
        assert demo_pool_digest([{"a": 1}]) != demo_pool_digest([{"a": 2}])

    @pytest.mark.parametrize(
        ("settings", "culprit"),
        [
            ({"limit": 0}, "limit must be >= 1, got 0"),
            ({"limit": 2, "n_demos": 3}, "n_demos=3 is outside 0..2"),
            ({"limit": 2, "order": 6, "orders": 6}, "demo_order=6 must be in 0..5"),
            ({"limit": 2, "low": 3, "n_demos": 2}, r"the fewest demos shown \(low=3\) must be in 0..2"),
            ({"limit": 2, "low": 1}, "n_demos=0 is outside 1..2"),
        ],
    )
    def test_bad_settings_are_named(self, settings: dict[str, int], culprit: str) -> None:
        from stacktune.knobs import demo_variables

        with pytest.raises(ValueError, match=culprit):
            demo_variables("p", pool_size=3, digest="x", **settings)
