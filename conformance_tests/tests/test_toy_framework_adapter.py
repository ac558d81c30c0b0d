"""The tutorial's adapter works in the real engine: plugin lookup, a study, export."""

from __future__ import annotations

import optuna
import pytest
import toy_framework_adapter
from test_toy_framework_conformance import TEMPLATES
from toy_framework import Chain

import stacktune
from stacktune import InvalidConfiguration, create_plugin_manager

DATASET = [
    {"question": q, "answer": str(sum(int(n) for n in q.split(" + ")))}
    for q in ("2 + 3", "1 + 1 + 1", "4 + 0 + 6", "7", "5 + 5 + 5 + 5")
]


def exact(example: dict[str, str], prediction: str) -> bool:
    return prediction == example["answer"]


@pytest.fixture
def manager():  # type: ignore[no-untyped-def]
    return create_plugin_manager(load_entry_points=False, plugins=[toy_framework_adapter])


def test_plugin_wraps_a_chain(manager) -> None:  # type: ignore[no-untyped-def]
    chain = Chain(TEMPLATES[0])
    wrapped = stacktune.optimizable(chain, manager=manager)
    assert isinstance(wrapped, toy_framework_adapter.ChainAdapter)
    assert wrapped.to_native() is chain
    with pytest.raises(stacktune.NoAdapterFound):
        stacktune.optimizable("not a chain", manager=manager)


def test_templates_are_applied_by_their_keys() -> None:
    adapter = toy_framework_adapter.ChainAdapter(Chain(TEMPLATES[0]), TEMPLATES)
    template = adapter.extract_variables()["template"]
    assert template.keys == ("template0", "template1")  # type: ignore[union-attr]
    assert template.default == "template0"
    applied = adapter.apply_configuration({"template": "template1"})
    assert applied.to_native().template == TEMPLATES[1]
    assert applied.extract_variables()["template"].default == "template1"
    assert adapter.to_native().template == TEMPLATES[0]
    with pytest.raises(InvalidConfiguration, match="'steps'"):
        adapter.apply_configuration({"reasoning": "direct", "steps": 2})


def test_a_study_finds_the_configuration_that_answers_everything() -> None:
    study = stacktune.create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
    study.optimize(toy_framework_adapter.ChainAdapter(Chain(TEMPLATES[0]), TEMPLATES), DATASET, exact, n_trials=30)
    assert study.best.values["score"] == 1.0
    best = study.best.configuration
    assert best["reasoning"] == "steps" and best["steps"] >= 3 and best["temperature"] <= 1.0
