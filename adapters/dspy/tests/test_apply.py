"""apply_configuration: a new program with the knobs set; the original and what it shares never change."""

from __future__ import annotations

import copy
from typing import Any

import dspy
import pytest

from stacktune import Categorical, InvalidConfiguration
from stacktune.knobs import demo_ordering
from stacktune_dspy import DSPyAdapter


def snapshot(program: Any) -> dict[str, Any]:
    """Everything apply could touch, by value and by identity."""
    state: dict[str, Any] = {}
    for name, predictor in program.named_predictors():
        state[name] = {
            "predictor": predictor,
            "signature": predictor.signature,
            "instructions": predictor.signature.instructions,
            "fields": {k: dict(v.json_schema_extra) for k, v in predictor.signature.fields.items()},
            "demos": predictor.demos,
            "demo_values": [d.toDict() for d in predictor.demos],
            "lm": predictor.lm,
            "lm_kwargs": dict(predictor.lm.kwargs) if predictor.lm is not None else None,
            "config": copy.deepcopy(predictor.config),
        }
    state["slots"] = (program.rewrite, program.answer)
    return state


@pytest.fixture
def tuned_program(program: Any, trainset: list[Any]) -> Any:
    program.rewrite.demos = [trainset[0], trainset[1]]
    program.rewrite.lm = dspy.LM("openai/original", api_base="http://127.0.0.1:9/v1", api_key="k", temperature=0.5)
    program.answer.predict.config = {"temperature": 0.2}
    return program


def everything(adapter: DSPyAdapter) -> dict[str, Any]:
    """A configuration that moves every knob away from its default."""
    space = adapter.extract_variables()
    return {
        "adapter": "xml",
        "lm": "big",
        "rewrite.module": "cot",
        "rewrite.instructions": space["rewrite.instructions"].keys[1],
        "rewrite.reasoning": space["rewrite.reasoning"].keys[1],
        "rewrite.demos": "pool",
        "rewrite.n_demos": 3,
        "rewrite.demo_order": space["rewrite.demo_order"].keys[2],
        "rewrite.temperature": 0.9,
        "rewrite.max_tokens": 100,
        "rewrite.top_p": 0.5,
        "answer.module": "predict",
        "answer.predict.instructions": space["answer.predict.instructions"].keys[1],
        "answer.predict.demos": "none",
        "answer.predict.temperature": 1.1,
    }


def test_original_and_shared_objects_unchanged(tuned_program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    before = snapshot(tuned_program)
    adapter = DSPyAdapter(
        tuned_program, lm=lm, trainset=trainset, instructions={"*": ["Be brief."]}, lms={"big": "openai/big"}
    )
    space_before = adapter.extract_variables()
    space_json = space_before.to_json()  # extract_variables() returns the same cached Space: compare by value too
    applied = adapter.apply_configuration(everything(adapter))
    after = snapshot(tuned_program)
    for name in ("rewrite", "answer.predict"):
        for key in ("predictor", "signature", "demos", "lm"):
            assert after[name][key] is before[name][key], (name, key)
        for key in ("instructions", "fields", "demo_values", "lm_kwargs", "config"):
            assert after[name][key] == before[name][key], (name, key)
    assert after["slots"][0] is before["slots"][0] and after["slots"][1] is before["slots"][1]
    assert isinstance(tuned_program.answer, dspy.ChainOfThought)
    assert adapter.extract_variables() == space_before
    assert adapter.extract_variables().to_json() == space_json
    assert applied.program is not tuned_program


def test_every_knob_reaches_the_new_program(tuned_program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    adapter = DSPyAdapter(
        tuned_program, lm=lm, trainset=trainset, instructions={"*": ["Be brief."]}, lms={"big": "openai/big"}
    )
    applied = adapter.apply_configuration(everything(adapter))
    new = applied.program
    assert isinstance(new.rewrite, dspy.ChainOfThought) and type(new.answer) is dspy.Predict
    rewrite, answer = new.rewrite.predict, new.answer
    assert rewrite.signature.instructions == "Be brief."
    assert answer.signature.instructions == "Be brief."
    assert list(rewrite.signature.output_fields) == ["reasoning", "query"]
    assert rewrite.signature.fields["reasoning"].json_schema_extra["desc"] == (
        "Think step by step in order to produce the answer."
    )
    assert list(answer.signature.output_fields) == ["answer"]
    assert len(rewrite.demos) == 3 and all(d.toDict() in [t.toDict() for t in trainset] for d in rewrite.demos)
    assert answer.demos == []
    assert rewrite.config == {"temperature": 0.9, "max_tokens": 100, "top_p": 0.5}
    assert answer.config == {"temperature": 1.1}
    assert rewrite.lm.model == "openai/big" and rewrite.lm is answer.lm
    assert applied.adapter == "xml"


def test_defaults_rebuild_the_original(tuned_program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    adapter = DSPyAdapter(tuned_program, lm=lm, trainset=trainset)
    same = adapter.apply_configuration(adapter.extract_variables().defaults()).program
    assert isinstance(same.answer, dspy.ChainOfThought)
    assert [d.toDict() for d in same.rewrite.demos] == [d.toDict() for d in tuned_program.rewrite.demos]
    assert same.rewrite.signature.equals(tuned_program.rewrite.signature)
    assert same.answer.predict.signature.equals(tuned_program.answer.predict.signature)
    assert same.answer.predict.config == {"temperature": 0.2}
    assert same.rewrite.lm.model == "openai/original" and same.rewrite.lm is not tuned_program.rewrite.lm


def test_stand_in_defaults_leave_unset_settings_unset(program: Any, lm: dspy.LM) -> None:
    adapter = DSPyAdapter(program, lm=lm)
    assert adapter.apply_configuration(adapter.extract_variables().defaults()).program.rewrite.config == {}
    applied = adapter.apply_configuration(
        {"rewrite.temperature": 1.0, "rewrite.top_p": 0.5, "rewrite.max_tokens": 4096}
    )  # the catalogue's stand-in: its top
    assert applied.program.rewrite.config == {"top_p": 0.5}
    assert applied.extract_variables().defaults()["rewrite.temperature"] == 1.0


def test_applied_values_become_defaults(program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    adapter = DSPyAdapter(program, lm=lm, trainset=trainset)
    config = {
        "answer.module": "predict",
        "rewrite.demos": "pool",
        "rewrite.n_demos": 2,
        "adapter": "json",
        "rewrite.temperature": 0.4,
    }
    applied = adapter.apply_configuration(config)
    defaults = applied.extract_variables().defaults()
    assert {k: defaults[k] for k in config} == config
    assert "answer.predict.reasoning" not in defaults  # inactive once answer is a plain Predict
    again = applied.apply_configuration({"rewrite.temperature": 0.8})
    assert again.configuration["rewrite.n_demos"] == 2 and again.configuration["rewrite.temperature"] == 0.8
    assert type(again.program.answer) is dspy.Predict


def test_partial_configuration_completes_newly_active_variables_with_their_defaults(
    program: Any, lm: dspy.LM, trainset: list[Any]
) -> None:
    adapter = DSPyAdapter(program, lm=lm, trainset=trainset, max_demos=2)
    space = adapter.extract_variables()
    assert space["rewrite.n_demos"].default == 2 and len(trainset) > 2
    applied = adapter.apply_configuration({"rewrite.demos": "pool"})
    # n_demos was inactive among the defaults; once demos is "pool" it takes its default, not the whole pool.
    assert applied.configuration["rewrite.n_demos"] == 2
    assert applied.configuration["rewrite.demo_order"] == space["rewrite.demo_order"].default
    assert space["rewrite.demo_order"].default.startswith("given@")  # the pool's own order
    assert len(applied.program.rewrite.demos) == 2


def test_swapped_paths_keep_their_variable_names(program: Any, lm: dspy.LM) -> None:
    adapter = DSPyAdapter(program, lm=lm, instructions={"answer.predict": ["Short answer."]})
    applied = adapter.apply_configuration({"answer.module": "predict", "answer.predict.temperature": 0.3})
    assert [name for name, _ in applied.program.named_predictors()] == ["rewrite", "answer"]
    again = applied.apply_configuration({"answer.predict.instructions": "Short answer."})
    assert again.program.answer.signature.instructions == "Short answer."
    assert again.program.answer.config == {"temperature": 0.3}
    back = again.apply_configuration({"answer.module": "cot"})
    assert back.program.answer.predict.signature.instructions == "Short answer."
    assert list(back.program.answer.predict.signature.output_fields) == ["reasoning", "answer"]


def test_demo_orders_show_the_first_n_demos_of_the_catalogues_orderings(
    program: Any, lm: dspy.LM, trainset: list[Any]
) -> None:
    adapter = DSPyAdapter(program, lm=lm, trainset=trainset, demo_orders=8)
    orders = adapter.extract_variables()["rewrite.demo_order"]
    assert isinstance(orders, Categorical) and len(orders.keys) == 8

    def shown(key: str) -> list[str]:
        config = {"rewrite.demos": "pool", "rewrite.n_demos": 2, "rewrite.demo_order": key}
        demos = adapter.apply_configuration(config).program.rewrite.demos
        assert all(d is not t for d in demos for t in trainset)  # copies, never the pool's own examples
        return [d.question for d in demos]

    for key in orders.keys:
        expected = [trainset[i].question for i in demo_ordering(len(trainset), orders.resolve(key))[:2]]
        assert shown(key) == expected
    assert shown(orders.keys[0]) == [t.question for t in trainset[:2]]  # "given": the pool's own order
    assert len({tuple(shown(key)) for key in orders.keys}) > 1


def test_each_configuration_builds_its_own_lm(program: Any, lm: dspy.LM) -> None:
    adapter = DSPyAdapter(program, lm=lm, lms={"a": {"model": "openai/a", "temperature": 0.1}})
    first = adapter.apply_configuration({"lm": "a"}).program
    second = adapter.apply_configuration({"lm": "a"}).program
    assert first.rewrite.lm is not second.rewrite.lm
    assert first.rewrite.lm.kwargs["temperature"] == 0.1


@pytest.mark.parametrize(
    ("config", "culprit"),
    [
        ({"rewrite.temprature": 0.5}, "rewrite.temprature"),
        ({"rewrite.temperature": 9.0}, "rewrite.temperature"),
        ({"rewrite.max_tokens": "many"}, "rewrite.max_tokens"),
        ({"adapter": "yaml"}, "adapter"),
        ({"rewrite.n_demos": 2}, "rewrite.n_demos"),  # inactive: rewrite.demos is not "pool"
        ({"rewrite.demos": "pool", "rewrite.demo_order": "shuffle-1@00000000"}, "rewrite.demo_order"),  # other pool
        ({"answer.module": "predict", "answer.predict.reasoning": "${reasoning}"}, "answer.predict.reasoning"),
    ],
)
def test_invalid_configurations_name_the_variable(
    program: Any, lm: dspy.LM, trainset: list[Any], config: dict[str, Any], culprit: str
) -> None:
    adapter = DSPyAdapter(program, lm=lm, trainset=trainset)
    with pytest.raises(InvalidConfiguration) as error:
        adapter.apply_configuration(config)
    assert error.value.variable == culprit
    assert culprit in str(error.value)
