"""The entry point: stacktune.optimizable() finds this adapter for any dspy.Module, and a study runs offline."""

from __future__ import annotations

from typing import Any

import dspy
import optuna
import pytest

import stacktune
from stacktune import NoAdapterFound, create_plugin_manager
from stacktune_dspy import DSPyAdapter, plugin


def test_entry_point_is_registered() -> None:
    manager = create_plugin_manager()
    assert any(p is plugin for p in manager.get_plugins())


def test_optimizable_wraps_any_dspy_module(program: Any) -> None:
    manager = create_plugin_manager()
    for target in (program, dspy.Predict("q -> a"), dspy.ChainOfThought("q -> a")):
        wrapped = stacktune.optimizable(target, manager=manager)
        assert isinstance(wrapped, DSPyAdapter) and wrapped.program is target


def test_hook_declines_other_targets(program: Any) -> None:
    assert plugin.stacktune_optimizable(target="a prompt") is None
    assert plugin.stacktune_optimizable(target=type(program)) is None
    assert plugin.stacktune_optimizable(target=program) is not None
    manager = create_plugin_manager(load_entry_points=False, plugins=[plugin])
    with pytest.raises(NoAdapterFound):
        stacktune.optimizable(object(), manager=manager)


def test_offline_study_through_the_plugin(program: Any, lm: dspy.LM, dataset: list[Any], metric: Any) -> None:
    adapter = DSPyAdapter(program, lm=lm, instructions={"*": ["Be brief."]})
    study = stacktune.create_study(storage=optuna.storages.InMemoryStorage(), objectives=("score", "tokens"), seed=1)
    study.optimize(adapter, dataset, metric, n_trials=6, n_jobs=2, max_concurrency=2)
    trials = study.completed_trials()
    assert len(trials) == 6
    assert all(t.values["score"] == 1.0 and t.values["tokens"] > 0 for t in trials)
    assert all(t.evaluation.calls == 2 * len(dataset) for t in trials)
    best = study.pareto_front()[0]
    native = best.export(adapter)
    assert isinstance(native, dspy.Module) and native is not program


def test_loading_the_plugin_does_not_import_dspy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stacktune_dspy.plugin\n"
        "assert 'dspy' not in sys.modules, 'the plugin imported dspy'\n"
        "import stacktune_dspy\n"
        "assert stacktune_dspy.Tune.__name__ == 'Tune' and 'dspy' in sys.modules\n"
        "assert 'DSPyAdapter' in dir(stacktune_dspy)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
