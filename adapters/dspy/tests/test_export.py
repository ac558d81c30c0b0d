"""Export and persistence: a normal DSPy program that save()s and load()s, plus what DSPy does not keep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy
import pytest

import stacktune_dspy
from stacktune_dspy import DSPyAdapter
from stacktune_dspy.testing import ScriptedEngine


@pytest.fixture
def configured(program: Any, trainset: list[Any]) -> DSPyAdapter:
    adapter = DSPyAdapter(
        program,
        trainset=trainset,
        instructions={"*": ["Be brief."]},
        lms={"local": {"model": "openai/smollm2", "api_base": "http://127.0.0.1:9/v1", "api_key": "local"}},
    )
    space = adapter.extract_variables()
    return adapter.apply_configuration(
        {
            "adapter": "json",
            "lm": "local",
            "rewrite.module": "cot",
            "answer.module": "predict",
            "rewrite.instructions": space["rewrite.instructions"].keys[1],
            "rewrite.demos": "pool",
            "rewrite.n_demos": 2,
            "answer.predict.temperature": 0.3,
            "answer.predict.max_tokens": 77,
            "rewrite.reasoning": space["rewrite.reasoning"].keys[1],
        }
    )


def test_to_native_is_an_independent_dspy_program(configured: DSPyAdapter) -> None:
    native = configured.to_native()
    assert isinstance(native, dspy.Module) and native is not configured.program
    assert [name for name, _ in native.named_predictors()] == ["rewrite.predict", "answer"]
    native.answer.config["temperature"] = 1.0
    assert configured.program.answer.config["temperature"] == 0.3


def test_to_native_gives_predictors_the_default_lm(program: Any, lm: dspy.LM) -> None:
    native = DSPyAdapter(program, lm=lm).to_native()
    assert native.rewrite.lm is lm and native.answer.predict.lm is lm
    assert program.rewrite.lm is None


def test_context_applies_the_tuned_adapter(configured: DSPyAdapter) -> None:
    native = configured.to_native()
    with stacktune_dspy.context(native):
        assert isinstance(dspy.settings.adapter, dspy.JSONAdapter)
    plain = DSPyAdapter(dspy.Predict("q -> a")).to_native()
    with stacktune_dspy.context(plain):
        assert dspy.settings.adapter is None


def test_save_load_round_trip(configured: DSPyAdapter, qa_class: type, tmp_path: Path) -> None:
    path = tmp_path / "best.json"
    sidecar = stacktune_dspy.save(configured, path)
    assert sidecar == tmp_path / "best.stacktune.json" and path.exists()
    saved = json.loads(sidecar.read_text())
    assert saved["modules"] == {"rewrite": "cot", "answer": "predict"}
    assert saved["config"] == {"answer": {"temperature": 0.3, "max_tokens": 77}}
    assert saved["adapter"] == "json"
    assert "api_key" not in path.read_text() + sidecar.read_text()  # secrets are never written

    template = qa_class()
    loaded = stacktune_dspy.load(template, path, allow_unsafe_lm_state=True, lm_kwargs={"api_key": "local"})
    assert isinstance(template.answer, dspy.ChainOfThought)  # the template is not changed
    original = configured.program
    assert isinstance(loaded.rewrite, dspy.ChainOfThought) and type(loaded.answer) is dspy.Predict
    assert loaded.rewrite.predict.signature.instructions == "Be brief."
    assert (
        loaded.rewrite.predict.signature.fields["reasoning"].json_schema_extra["desc"]
        == (original.rewrite.predict.signature.fields["reasoning"].json_schema_extra["desc"])
    )
    assert [d["question"] for d in loaded.rewrite.predict.demos] == [d.question for d in original.rewrite.predict.demos]
    assert loaded.answer.config == {"temperature": 0.3, "max_tokens": 77}
    assert loaded.answer.lm.model == "openai/smollm2"
    assert loaded.answer.lm.kwargs["api_base"] == "http://127.0.0.1:9/v1"
    assert loaded.answer.lm.kwargs["api_key"] == "local"
    with stacktune_dspy.context(loaded):
        assert isinstance(dspy.settings.adapter, dspy.JSONAdapter)


def test_loaded_program_behaves_like_the_exported_one(
    program: Any, trainset: list[Any], engine: ScriptedEngine, lm: dspy.LM, qa_class: type, tmp_path: Path
) -> None:
    configured = DSPyAdapter(program, trainset=trainset).apply_configuration(
        {
            "adapter": "xml",
            "answer.module": "predict",
            "answer.predict.demos": "pool",
            "answer.predict.n_demos": 2,
            "rewrite.temperature": 0.6,
        }
    )
    stacktune_dspy.save(configured, tmp_path / "p.json")
    loaded = stacktune_dspy.load(qa_class(), tmp_path / "p.json")
    native = configured.to_native()
    outputs = []
    for candidate in (native, loaded):
        engine.calls.clear()
        with dspy.context(lm=lm), stacktune_dspy.context(candidate):
            outputs.append(
                (
                    candidate(question="What is the capital of Peru?").toDict(),
                    [(c.format, c.fields, c.temperature, c.prompt) for c in engine.calls],
                )
            )
    assert outputs[0] == outputs[1]
    assert outputs[0][0]["answer"] == "Lima" and outputs[0][1][0][0] == "xml"


def test_frozen_predictors_survive_save_and_load(program: Any, lm: dspy.LM, tmp_path: Path) -> None:
    def outer_with(qa: Any) -> dspy.Module:
        outer = dspy.Module()
        outer.qa = qa
        outer.extra = dspy.Predict("text -> label")
        return outer

    qa = program.deepcopy()
    qa._compiled = True
    adapter = DSPyAdapter(outer_with(qa), instructions={"qa.rewrite": ["Rewrite tersely."]})
    configured = adapter.apply_configuration(
        {"qa.rewrite.instructions": "Rewrite tersely.", "qa.answer.predict.temperature": 0.1}
    )
    path = tmp_path / "outer.json"
    stacktune_dspy.save(configured, path)
    assert "qa.rewrite" not in json.loads(path.read_text())  # DSPy's own save skips compiled sub-modules

    loaded = stacktune_dspy.load(outer_with(program.deepcopy()), path)
    assert loaded.qa._compiled is True
    assert loaded.qa.rewrite.signature.instructions == "Rewrite tersely."
    assert loaded.qa.answer.predict.config == {"temperature": 0.1}


def test_save_refuses_non_json_paths_and_unsaveable_settings(program: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end with \.json"):
        stacktune_dspy.save(program, tmp_path / "p.pkl")
    program.rewrite.config = {"stop": object()}
    with pytest.raises(TypeError, match="predictor 'rewrite'"):
        stacktune_dspy.save(program, tmp_path / "p.json")


def test_load_without_sidecar_is_dspy_load(program: Any, qa_class: type, tmp_path: Path) -> None:
    program.answer.predict.signature = program.answer.predict.signature.with_instructions("Plain DSPy save.")
    program.save(str(tmp_path / "plain.json"))
    loaded = stacktune_dspy.load(qa_class(), tmp_path / "plain.json")
    assert loaded.answer.predict.signature.instructions == "Plain DSPy save."
