"""Which variables the adapter finds, with which choices, defaults and conditions."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import dspy
import pytest

from stacktune import Categorical, Float, Int, Space, Variable
from stacktune.knobs import DEMO_ORDERS, demo_pool_digest, demo_variables
from stacktune_dspy import DSPyAdapter, LMSpec, Tune


def kinds(space: Space) -> dict[str, str]:
    return {v.name: v.kind for v in space.variables}


def test_multi_predictor_program_with_cot_default_variables(program: Any, lm: dspy.LM) -> None:
    space = DSPyAdapter(program, lm=lm).extract_variables()
    assert kinds(space) == {
        "adapter": "categorical",
        "rewrite.module": "categorical",
        "rewrite.reasoning": "categorical",
        "rewrite.temperature": "float",
        "rewrite.max_tokens": "int",
        "rewrite.top_p": "float",
        "answer.module": "categorical",
        "answer.predict.reasoning": "categorical",
        "answer.predict.temperature": "float",
        "answer.predict.max_tokens": "int",
        "answer.predict.top_p": "float",
    }
    assert space["rewrite.module"].default == "predict"
    assert space["answer.module"].default == "cot"
    assert space["answer.predict.reasoning"].when == {"answer.module": ("cot",)}
    assert space["answer.predict.reasoning"].default == "${reasoning}"
    assert space["rewrite.reasoning"].when == {"rewrite.module": ("cot",)}
    assert space["adapter"].keys == ("chat", "json", "xml") and space["adapter"].default == "chat"
    max_tokens = space["rewrite.max_tokens"]
    assert isinstance(max_tokens, Int) and max_tokens.log
    # Nothing sets them: the defaults are stand-ins for "the provider's default", and say so.
    assert max_tokens.default == 4096 and space["rewrite.temperature"].default == 1.0  # the catalogue's stand-ins
    assert (max_tokens.low, max_tokens.high, space["rewrite.temperature"].high) == (16, 4096, 1.5)
    assert space["rewrite.top_p"].default == 1.0
    assert "unset now" in (space["rewrite.temperature"].description or "")


def test_every_kind_of_variable_with_all_options(program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    program.rewrite.demos = [trainset[0]]
    adapter = DSPyAdapter(
        program,
        lm=lm,
        trainset=trainset,
        instructions={"answer.predict": ["Answer with one word."], "*": ["Be brief."]},
        lms={"small": "openai/small", "big": {"model": "openai/big", "api_key": "sk-secret"}},
        demo_sets={"answer.predict": {"hand": [trainset[1]]}},
    )
    space = adapter.extract_variables()
    assert list(kinds(space)) == [
        "adapter",
        "lm",
        "rewrite.module",
        "rewrite.instructions",
        "rewrite.reasoning",
        "rewrite.demos",
        "rewrite.n_demos",
        "rewrite.demo_order",
        "rewrite.temperature",
        "rewrite.max_tokens",
        "rewrite.top_p",
        "answer.module",
        "answer.predict.instructions",
        "answer.predict.reasoning",
        "answer.predict.demos",
        "answer.predict.n_demos",
        "answer.predict.demo_order",
        "answer.predict.temperature",
        "answer.predict.max_tokens",
        "answer.predict.top_p",
    ]
    assert space["lm"].keys == ("current", "small", "big") and space["lm"].default == "current"
    instructions = space["answer.predict.instructions"]
    assert isinstance(instructions, Categorical)
    assert list(instructions.choices.values()) == [
        program.answer.predict.signature.instructions,
        "Answer with one word.",
        "Be brief.",
    ]
    assert instructions.resolve(instructions.default) == program.answer.predict.signature.instructions
    assert space["rewrite.demos"].keys == ("current", "none", "pool") and space["rewrite.demos"].default == "current"
    assert space["answer.predict.demos"].keys == ("none", "hand", "pool")
    assert space["answer.predict.demos"].default == "none"
    assert space["rewrite.reasoning"].when == {"rewrite.module": ("cot",)}
    n_demos = space["answer.predict.n_demos"]
    assert isinstance(n_demos, Int) and (n_demos.low, n_demos.high) == (1, 4)
    assert n_demos.when == {"answer.predict.demos": ("pool",)}
    assert space["rewrite.demo_order"].when == {"rewrite.demos": ("pool",), "rewrite.n_demos": (1, 2, 3, 4)}


def test_space_json_round_trip_keeps_names_and_hides_secrets(program: Any, lm: dspy.LM) -> None:
    adapter = DSPyAdapter(
        program, lm=lm, lms={"big": {"model": "openai/big", "api_key": "sk-secret"}}, instructions={"*": ["Be brief."]}
    )
    space = adapter.extract_variables()
    text = space.to_json()
    assert "sk-secret" not in text
    again = Space.from_json(text)
    assert again.to_json() == text
    assert again.names == space.names and again["lm"].keys == space["lm"].keys
    texts = again["answer.predict.instructions"].choices.values()
    assert program.answer.predict.signature.instructions in texts and "Be brief." in texts


def test_pool_keeps_only_examples_with_the_predictors_fields(program: Any, lm: dspy.LM) -> None:
    examples = [
        dspy.Example(question="q", answer="a"),
        dspy.Example(question="q", query="x", answer="a"),
        dspy.Example(text="unrelated"),
    ]
    adapter = DSPyAdapter(program, lm=lm, trainset=examples, max_demos=8)
    space = adapter.extract_variables()
    assert space["rewrite.n_demos"].high == 1  # only the example with question+query fits question -> query
    assert space["answer.predict.n_demos"].high == 1  # only question+query(+answer) fits the answer step
    assert "rewrite.demo_order" not in space  # one example: nothing to order differently


def test_lm_per_predictor_scope(program: Any, lm: dspy.LM) -> None:
    space = DSPyAdapter(program, lm=lm, lms=["openai/a", "openai/b"], lm_scope="predictor").extract_variables()
    assert "lm" not in space
    assert space["rewrite.lm"].keys == ("current", "openai/a", "openai/b")
    assert space["answer.predict.lm"].keys == ("current", "openai/a", "openai/b")


def test_current_lm_matching_a_spec_is_its_default(program: Any) -> None:
    small = dspy.LM("openai/small", api_base="http://127.0.0.1:9/v1", api_key="k")
    program.set_lm(small)
    space = DSPyAdapter(program, lms={"small": LMSpec.from_lm(small), "big": "openai/big"}).extract_variables()
    assert space["lm"].keys == ("small", "big")
    assert space["lm"].default == "small"


def test_each_lm_choice_is_built_once_per_knob_map(program: Any, lm: dspy.LM, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    build = LMSpec.build

    def counting_build(self: LMSpec) -> dspy.LM:
        built.append(self.model)
        return build(self)

    monkeypatch.setattr(LMSpec, "build", counting_build)
    space = DSPyAdapter(program, lm=lm, lms=["openai/a", "openai/b"]).extract_variables()
    assert "rewrite.temperature" in space and "answer.predict.temperature" in space
    assert built == ["openai/a", "openai/b"]  # asked what each takes once, not once per predictor


def test_current_settings_are_defaults_and_widen_the_range(program: Any, lm: dspy.LM) -> None:
    program.rewrite.config = {"temperature": 1.9, "max_tokens": 8}
    space = DSPyAdapter(program, lm=lm).extract_variables()
    temperature = space["rewrite.temperature"]
    assert isinstance(temperature, Float)
    assert (temperature.low, temperature.high, temperature.default) == (0.0, 1.9, 1.9)
    max_tokens = space["rewrite.max_tokens"]
    assert (max_tokens.low, max_tokens.default) == (8, 8)


def test_settings_the_lm_does_not_support_are_skipped(program: Any) -> None:
    class NoTopP(dspy.BaseLM):
        @property
        def supported_params(self) -> set[str]:
            return {"temperature", "max_tokens"}

    space = DSPyAdapter(program, lm=NoTopP("fake/model")).extract_variables()
    assert "rewrite.temperature" in space and "rewrite.top_p" not in space


def test_settings_and_adapters_can_be_turned_off(program: Any, lm: dspy.LM) -> None:
    space = DSPyAdapter(
        program, lm=lm, adapters=(), temperature=None, max_tokens=None, top_p=None, swap_modules=False
    ).extract_variables()
    # Without swaps, the CoT's reasoning description is still a knob (unconditional).
    assert kinds(space) == {"answer.predict.reasoning": "categorical"}
    assert space["answer.predict.reasoning"].when is None


def test_instruction_proposer_is_called_once_per_predictor(program: Any, lm: dspy.LM) -> None:
    calls: list[str] = []

    def propose(path: str, predictor: dspy.Predict) -> list[str]:
        calls.append(path)
        return [f"Proposed for {predictor.signature.signature}"]

    adapter = DSPyAdapter(program, lm=lm, instruction_proposer=propose)
    space = adapter.extract_variables()
    adapter.apply_configuration({}).extract_variables()
    assert calls == ["rewrite", "answer.predict"]
    assert "Proposed for question -> query" in space["rewrite.instructions"].choices.values()


def test_frozen_predictors_are_variables_flagged_in_descriptions(program: Any, lm: dspy.LM) -> None:
    outer = dspy.Module()
    program._compiled = True
    outer.qa = program
    space = DSPyAdapter(outer, lm=lm).extract_variables()
    assert "qa.rewrite.temperature" in space and "qa.answer.predict.temperature" in space
    description = space["qa.answer.predict.temperature"].description or ""
    assert "frozen by an earlier DSPy optimizer" in description


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"instructions": {"nope": ["x"]}}, "instructions names predictor 'nope'"),
        ({"demo_pool": {"answer": []}}, "demo_pool names predictor 'answer'"),
        ({"adapters": ("chat", "yaml")}, "unknown DSPy adapter"),
        ({"lm_scope": "module"}, "lm_scope must be"),
        ({"temperature": (1.0, 0.0)}, "temperature must be a (low, high) pair"),
        ({"max_demos": 0}, "max_demos must be >= 1"),
        ({"demo_orders": 0}, "demo_orders must be a whole number >= 1, got 0"),
    ],
)
def test_bad_options_are_rejected_with_the_culprit(program: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DSPyAdapter(program, **options)


def test_bad_candidates_are_rejected_naming_the_predictor(program: Any, lm: dspy.LM) -> None:
    with pytest.raises(ValueError, match="'rewrite'"):
        DSPyAdapter(program, lm=lm, instructions={"rewrite": [""]}).extract_variables()
    with pytest.raises(ValueError, match="reserved"):
        DSPyAdapter(program, lm=lm, demo_sets={"rewrite": {"pool": []}}).extract_variables()


def test_not_a_module_is_refused() -> None:
    with pytest.raises(TypeError, match="dspy.Module instance"):
        DSPyAdapter(dspy.Predict)  # type: ignore[arg-type]


def _catalogue_demo_knobs(prefix: str, pool: list[Any], limit: int) -> list[Variable]:
    return demo_variables(
        prefix,
        limit=limit,
        pool_size=len(pool),
        digest=demo_pool_digest([dict(example.items()) for example in pool]),
        n_demos=limit,
        low=1,
        when={f"{prefix}.demos": "pool"},
    )


def test_demo_knobs_are_the_core_catalogues(program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    space = DSPyAdapter(program, lm=lm, trainset=trainset, max_demos=3).extract_variables()
    expected = _catalogue_demo_knobs("rewrite", trainset, 3)
    ours = [space["rewrite.n_demos"], space["rewrite.demo_order"]]
    assert [v.name.removeprefix("rewrite.") for v in ours] == ["n_demos", "demo_order"]
    assert [v.model_dump(exclude={"description"}) for v in ours] == [
        v.model_dump(exclude={"description"}) for v in expected
    ]
    orders = space["rewrite.demo_order"]
    assert isinstance(orders, Categorical) and len(orders.keys) == DEMO_ORDERS
    assert "predictor 'rewrite'" in (orders.description or "") and "a pool of 5" in (orders.description or "")


def test_a_changed_pool_changes_the_demo_order_keys(program: Any, lm: dspy.LM, trainset: list[Any]) -> None:
    def order_keys(pool: list[Any]) -> tuple[str, ...]:
        return DSPyAdapter(program, lm=lm, trainset=pool).extract_variables()["rewrite.demo_order"].keys

    keys = order_keys(trainset)
    assert order_keys([example.copy() for example in trainset]) == keys  # the same pool by value: the same keys
    changed = [trainset[0].copy(answer="Cusco"), *trainset[1:]]
    assert order_keys(changed) != keys
    assert order_keys(trainset[::-1]) != keys  # reordered: "given" is another order


class _Opaque:
    """A value without a JSON form, its default repr holding its memory address."""


def test_the_pool_digest_leaves_out_object_addresses(program: Any, lm: dspy.LM) -> None:
    def order_keys(extra: Any) -> tuple[str, ...]:
        pool = [dspy.Example(question=f"q{i}", query=f"x{i}", extra=extra) for i in range(3)]
        return DSPyAdapter(program, lm=lm, trainset=pool).extract_variables()["rewrite.demo_order"].keys

    assert order_keys(_Opaque()) == order_keys(_Opaque())
    assert order_keys({"b", "a"}) != order_keys({"a"})


_KEYS_IN_A_FRESH_PROCESS = """
import dspy
from stacktune_dspy import DSPyAdapter

class Opaque:
    pass

pool = [
    dspy.Example(question=f"q{i}", query=f"x{i}", tags={f"tag-{j}" for j in range(12)}, extra=Opaque())
    for i in range(3)
]
space = DSPyAdapter(dspy.Predict("question -> query"), trainset=pool).extract_variables()
print(space["self.demo_order"].keys[0])
"""


def test_the_demo_order_keys_are_the_same_in_every_process() -> None:
    def keys_with(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}  # another order for a set of strings
        done = subprocess.run(
            [sys.executable, "-c", _KEYS_IN_A_FRESH_PROCESS], env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    first = keys_with("1")
    assert first.startswith("given@") and keys_with("2") == first


def test_renamed_option_demo_seeds_says_use_demo_orders(program: Any) -> None:
    with pytest.raises(TypeError, match=r"DSPyAdapter no longer takes demo_seeds=: use demo_orders="):
        DSPyAdapter(program, demo_seeds=4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Tune no longer takes demo_seeds=: use demo_orders="):
        Tune(lambda example, prediction, trace=None: 1.0, demo_seeds=4)
    with pytest.raises(TypeError, match=r"DSPyAdapter got unexpected keyword argument\(s\) \['max_demo'\]"):
        DSPyAdapter(program, max_demo=4)  # type: ignore[arg-type]
