"""Working with DSPy's own optimizers: tune their output further, feed their finds in as candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.teleprompt import BootstrapFewShot
from dspy.utils import DummyLM

import stacktune_dspy
from stacktune_dspy import DSPyAdapter, candidates_from_programs

DUMMY_ANSWERS = {
    country: {"query": f"capital of {country}", "reasoning": f"{country} is a country.", "answer": capital}
    for country, capital in {
        "Peru": "Lima",
        "Italy": "Rome",
        "Spain": "Madrid",
        "Japan": "Tokyo",
        "France": "Paris",
    }.items()
}


@pytest.fixture
def compiled(program: Any, trainset: list[Any], metric: Any) -> Any:
    with dspy.context(lm=DummyLM(DUMMY_ANSWERS)):
        return BootstrapFewShot(metric=metric, max_bootstrapped_demos=2, max_labeled_demos=0).compile(
            program, trainset=trainset
        )


def test_bootstrap_output_is_found_flagged_and_keeps_its_demos(compiled: Any) -> None:
    assert compiled._compiled and len(compiled.answer.predict.demos) == 2
    adapter = DSPyAdapter(compiled, lm=DummyLM(DUMMY_ANSWERS))
    assert [p.path for p in adapter.predictors] == ["rewrite", "answer.predict"]
    assert all(p.compiled and not p.frozen for p in adapter.predictors)
    space = adapter.extract_variables()
    assert space["answer.predict.demos"].default == "current"
    assert "compiled by an earlier DSPy optimizer" in (space["answer.predict.demos"].description or "")
    assert [d.toDict() for d in space["answer.predict.demos"].resolve("current")] == [
        d.toDict() for d in compiled.answer.predict.demos
    ]


def test_bootstrap_output_tuned_further(compiled: Any, dataset: list[Any], metric: Any, tmp_path: Path) -> None:
    adapter = DSPyAdapter(compiled)  # the LM comes from the caller's dspy.context
    tuned = adapter.apply_configuration({"answer.module": "predict", "answer.predict.temperature": 0.2})
    assert type(tuned.program.answer) is dspy.Predict
    assert [d.toDict() for d in tuned.program.answer.demos] == [d.toDict() for d in compiled.answer.predict.demos]
    with dspy.context(lm=DummyLM(DUMMY_ANSWERS)):
        evaluation = tuned.evaluate(dataset, metric, max_concurrency=2)
    assert evaluation.scores == (1.0, 1.0, 1.0, 1.0)
    assert len(compiled.answer.predict.demos) == 2 and isinstance(compiled.answer, dspy.ChainOfThought)
    # The result is again a plain DSPy program: DSPy can save and load it.
    native = tuned.to_native()
    native.save(str(tmp_path / "native.json"))
    same_shape = native.reset_copy()
    assert same_shape.answer.demos == []
    same_shape.load(str(tmp_path / "native.json"))
    assert len(same_shape.answer.demos) == 2
    # With the sidecar, the original architecture (answer is a ChainOfThought) is enough to load it.
    stacktune_dspy.save(native, tmp_path / "tuned.json")
    reloaded = stacktune_dspy.load(compiled.reset_copy(), tmp_path / "tuned.json")
    assert type(reloaded.answer) is dspy.Predict and len(reloaded.answer.demos) == 2
    assert reloaded.answer.config == {"temperature": 0.2}


def test_optimizer_finds_become_candidates(program: Any, compiled: Any, lm: dspy.LM) -> None:
    better = compiled.deepcopy()
    better.rewrite.signature = better.rewrite.signature.with_instructions("Turn the question into a search query.")
    found = candidates_from_programs({"boot": compiled, "copro": better})
    assert found.instructions["rewrite"][-1] == "Turn the question into a search query."
    assert set(found.demo_sets["answer.predict"]) == {"boot", "copro"}
    space = DSPyAdapter(program, lm=lm, **found.as_options()).extract_variables()
    assert "Turn the question into a search query." in space["rewrite.instructions"].choices.values()
    assert space["answer.predict.demos"].keys == ("none", "boot", "copro")
    applied = DSPyAdapter(program, lm=lm, **found.as_options()).apply_configuration({"answer.predict.demos": "boot"})
    assert len(applied.program.answer.predict.demos) == 2 and program.answer.predict.demos == []


def test_candidates_refuse_non_programs() -> None:
    with pytest.raises(TypeError, match="'x' is a str"):
        candidates_from_programs({"x": "not a program"})  # type: ignore[dict-item]
