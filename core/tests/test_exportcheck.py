"""export(check=True): the native object must send the model what the tuned program sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
import pytest

from stacktune import ExportMismatch, ModelCall, OptunaSearch, check_export, create_study
from stacktune.exportcheck import compare_calls
from stacktune.testing import ToyProgram, toy_dataset, toy_metric


class ExportingToy(ToyProgram):
    """A ToyProgram that exports its knobs as a dict and 'calls a model' with them."""

    stale = False

    def apply_configuration(self, configuration: Mapping[str, object]) -> ExportingToy:
        applied = super().apply_configuration(configuration)
        return type(self)(applied.strategy, applied.steps, applied.temperature, applied.style)

    def to_native(self) -> dict[str, Any]:
        knobs = {"strategy": self.strategy, "steps": self.steps, "temperature": self.temperature, "style": self.style}
        return {**knobs, "temperature": 0.7} if self.stale else knobs

    def model_calls(self, example: object, native: object | None = None) -> list[ModelCall]:
        knobs = dict(native) if isinstance(native, Mapping) else {**self.to_native(), "temperature": self.temperature}
        return [ModelCall((("system", knobs["style"]), ("user", str(example))), knobs, f"{knobs['temperature']}")]


class StaleToy(ExportingToy):
    stale = True


def _study_of(program: ToyProgram) -> Any:
    study = create_study(
        study_name="exported",
        storage=optuna.storages.InMemoryStorage(),
        search=OptunaSearch(optuna.samplers.RandomSampler(seed=0)),
    )
    study.optimize(program, toy_dataset(4), toy_metric, n_trials=3, baseline=False)
    return study


def test_a_faithful_export_passes_the_check() -> None:
    study = _study_of(ExportingToy())
    native = study.best.export(ExportingToy(), check=True, examples=[0.1, 0.2])
    assert native["temperature"] == study.best.configuration["temperature"]


def test_a_stale_export_is_caught_naming_the_knob() -> None:
    study = _study_of(StaleToy())
    trial = next(t for t in study.completed_trials() if t.configuration["temperature"] != 0.7)
    with pytest.raises(ExportMismatch, match="'temperature'") as caught:
        trial.export(StaleToy(), check=True, examples=[0.1])
    assert caught.value.knob == "temperature"
    assert trial.export(StaleToy())["temperature"] == 0.7  # unchecked, the stale export goes through


def test_messages_parameters_and_greedy_outputs_are_compared() -> None:
    call = ModelCall((("system", "be brief"), ("user", "q")), {"temperature": 0.0, "max_tokens": 8}, "a")
    compare_calls([call], [call], {}, "example #0")
    other_text = ModelCall((("system", "be long"), ("user", "q")), call.parameters, "a")
    with pytest.raises(ExportMismatch, match="'p/instructions'.*message #0"):
        compare_calls([call], [other_text], {"p/instructions": "k", "p/temperature": 0.0}, "example #0")
    other_param = ModelCall(call.messages, {"temperature": 0.0, "max_tokens": 9}, "a")
    with pytest.raises(ExportMismatch, match="'llm/max_tokens'"):
        compare_calls([call], [other_param], {"llm/max_tokens": 8}, "example #0")
    other_answer = ModelCall(call.messages, call.parameters, "b")
    with pytest.raises(ExportMismatch, match="'output'"):
        compare_calls([call], [other_answer], {}, "example #0")
    sampled = ModelCall(call.messages, {"temperature": 0.9}, "a")
    compare_calls([sampled], [ModelCall(call.messages, {"temperature": 0.9}, "b")], {}, "x")  # sampled: may differ
    with pytest.raises(ExportMismatch, match="2 model call"):
        compare_calls([call, call], [call], {}, "example #0")


def test_check_needs_examples_and_a_checkable_adapter() -> None:
    with pytest.raises(ValueError, match="examples"):
        check_export(ExportingToy(), {}, [])
    with pytest.raises(TypeError, match="model_calls"):
        check_export(ToyProgram(), {}, [0.1])
