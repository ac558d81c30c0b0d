"""Finding predictors: DSPy's paths, swappable sites, frozen (compiled) sub-modules."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from stacktune_dspy import find_predictors
from stacktune_dspy._discovery import compiled_module_paths, current_path, get_path


class Wide(dspy.Module):
    """Predictors in every place DSPy looks: attributes, a list, a dict, a nested module, a DSPy module."""

    def __init__(self) -> None:
        super().__init__()
        self.first = dspy.Predict("question -> query")
        self.steps = [dspy.Predict("query -> note"), dspy.ChainOfThought("note -> summary")]
        self.by_name = {"judge": dspy.Predict("summary -> verdict")}
        self.inner = Inner()
        self.tool_user = dspy.ReAct("question -> answer", tools=[lambda x: x])

    def forward(self, **kwargs: Any) -> Any:  # pragma: no cover - structure only
        raise NotImplementedError


class Inner(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cot = dspy.ChainOfThought("summary -> title")

    def forward(self, **kwargs: Any) -> Any:  # pragma: no cover - structure only
        raise NotImplementedError


def test_paths_match_dspy_named_predictors() -> None:
    program = Wide()
    found = [info.path for info in find_predictors(program)]
    assert found == [name for name, _ in program.named_predictors()]


def test_sites_only_for_predict_and_cot_held_by_user_code() -> None:
    infos = {info.path: info for info in find_predictors(Wide())}
    assert (infos["first"].site, infos["first"].kind) == ("first", "predict")
    assert (infos["steps[0]"].site, infos["steps[0]"].kind) == ("steps[0]", "predict")
    assert (infos["steps[1].predict"].site, infos["steps[1].predict"].kind) == ("steps[1]", "cot")
    assert (infos["by_name['judge']"].site, infos["by_name['judge']"].kind) == ("by_name['judge']", "predict")
    assert (infos["inner.cot.predict"].site, infos["inner.cot.predict"].kind) == ("inner.cot", "cot")
    react = [info for path, info in infos.items() if path.startswith("tool_user.")]
    assert react and all(info.site is None and info.kind is None for info in react)


def test_root_predictors_use_dspy_names() -> None:
    assert [i.path for i in find_predictors(dspy.Predict("q -> a"))] == ["self"]
    [cot] = find_predictors(dspy.ChainOfThought("q -> a"))
    assert (cot.path, cot.site, cot.kind) == ("predict", "self", "cot")


def test_compiled_submodules_are_found_and_flagged(program: Any) -> None:
    outer = dspy.Module()
    program._compiled = True
    outer.qa = program
    outer.extra = dspy.Predict("text -> label")
    assert [name for name, _ in outer.named_predictors()] == ["extra"]  # DSPy hides the compiled ones
    infos = {i.path: i for i in find_predictors(outer)}
    assert set(infos) == {"qa.rewrite", "qa.answer.predict", "extra"}
    assert infos["qa.rewrite"].frozen and infos["qa.answer.predict"].frozen
    assert "frozen by an earlier DSPy optimizer" in infos["qa.rewrite"].flags
    assert not infos["extra"].frozen and infos["extra"].flags == ""
    assert compiled_module_paths(outer) == ["qa"]


def test_compiled_root_is_flagged_but_not_frozen(program: Any) -> None:
    program._compiled = True
    infos = find_predictors(program)
    assert all(info.compiled and not info.frozen for info in infos)
    assert all(info.flags == "compiled by an earlier DSPy optimizer" for info in infos)


@pytest.mark.parametrize("path", ["first", "steps[1]", "by_name['judge']", "inner.cot"])
def test_get_path_reaches_sites(path: str) -> None:
    program = Wide()
    assert isinstance(get_path(program, path), (dspy.Predict, dspy.ChainOfThought))


def test_current_path_follows_the_site(program: Any) -> None:
    [_, answer] = find_predictors(program)
    assert current_path(program, answer) == "answer.predict"
    program.answer = dspy.Predict("question, query -> answer")
    assert current_path(program, answer) == "answer"
