"""A DSPy program among alternatives, its export checked against the tuned program, and DSPy's save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dspy
import pytest

import stacktune_dspy
from stacktune import ExportMismatch, check_export
from stacktune_dspy import DSPyAdapter
from stacktune_dspy.testing import scripted_lm

PLAIN = [{"question": "What is the capital of France?", "answer": "Paris"}, {"question": "And Peru?", "answer": "Lima"}]


def test_plain_examples_become_dspy_examples_with_the_programs_inputs(program: Any, lm: dspy.LM) -> None:
    adapter = DSPyAdapter(program, lm=lm)
    example = adapter.to_input(PLAIN[0])
    assert isinstance(example, dspy.Example)
    assert set(example.inputs().keys()) == {"question"} and example.answer == "Paris"
    adapter.check_input(example)
    with pytest.raises(KeyError, match="question"):
        adapter.check_input(adapter.to_input({"query": "x", "answer": "y"}))


def test_predictions_come_back_as_their_one_output_field() -> None:
    adapter = DSPyAdapter(dspy.Predict("question -> answer"))
    assert adapter.from_output(dspy.Prediction(reasoning="because", answer="Paris")) == "Paris"
    assert adapter.from_output(dspy.Prediction(a=1, b=2)) == {"a": 1, "b": 2}


def _tuned(program: Any) -> DSPyAdapter:
    adapter = DSPyAdapter(program, lm=scripted_lm(), adapters=("chat", "json"))
    configuration = {"adapter": "json", "answer.predict.temperature": 0.0, "answer.predict.max_tokens": 77}
    return adapter.apply_configuration(configuration)


def test_the_export_sends_what_the_tuned_program_sends(program: Any) -> None:
    tuned = _tuned(program)
    check_export(tuned, tuned.to_native(), PLAIN, tuned.configuration)


def test_an_export_that_lost_a_knob_is_caught_by_name(program: Any) -> None:
    tuned = _tuned(program)
    stale = tuned.to_native()
    stale.answer.predict.config["max_tokens"] = 33
    with pytest.raises(ExportMismatch, match="'answer.predict.max_tokens'"):
        check_export(tuned, stale, PLAIN[:1], tuned.configuration)


def test_an_export_without_its_dspy_adapter_is_caught(program: Any) -> None:
    tuned = _tuned(program)
    stale = tuned.to_native()
    stale._stacktune = {"adapter": None}  # the JSON adapter did not travel
    with pytest.raises(ExportMismatch, match="message"):
        check_export(tuned, stale, PLAIN[:1], tuned.configuration)


def test_a_tuned_program_round_trips_through_dspy_save_and_load(program: Any, qa_class: type, tmp_path: Path) -> None:
    tuned = _tuned(program)
    path = tmp_path / "program.json"
    stacktune_dspy.save(tuned, path)
    loaded = stacktune_dspy.load(qa_class(), path, allow_unsafe_lm_state=True)
    check_export(tuned, loaded, PLAIN, tuned.configuration)
