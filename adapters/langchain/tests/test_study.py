"""The adapter through stacktune's front door: the plugin hook and a whole offline study."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from langchain_core.runnables import Runnable

import stacktune
from stacktune import NoAdapterFound, create_plugin_manager, create_study
from stacktune_langchain import LangChainAdapter, plugin
from stacktune_langchain.testing import quiz_dataset, quiz_metric

from .conftest import CAREFUL


def test_entry_point_plugin_wraps_runnables(simple_chain: Runnable[Any, Any]) -> None:
    manager = create_plugin_manager(load_entry_points=True)
    assert "langchain" in dict(manager.list_name_plugin())
    adapter = stacktune.optimizable(simple_chain, manager=manager)
    assert isinstance(adapter, LangChainAdapter) and adapter.original is simple_chain


def test_hook_declines_anything_else() -> None:
    assert plugin.stacktune_optimizable(target=object()) is None
    assert plugin.stacktune_optimizable(target="prompt | model") is None
    manager = create_plugin_manager(load_entry_points=False, plugins=[plugin])
    with pytest.raises(NoAdapterFound):
        stacktune.optimizable(42, manager=manager)


def test_offline_study_finds_the_careful_configuration(simple_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(
        simple_chain,
        prompts={"step0.prompt.system": {"careful": CAREFUL}},
        exclude=["step1.model.top_p", "step1.model.max_tokens", "*.human"],
    )
    study = create_study(storage=optuna.storages.InMemoryStorage(), objectives=["score", "tokens"], seed=3)
    study.optimize(adapter, quiz_dataset(4), quiz_metric, n_trials=25)
    best = max(study.completed_trials(), key=lambda t: t.values["score"])
    assert best.values["score"] == 1.0
    assert best.configuration["step0.prompt.system"] == "careful"
    assert best.configuration["step1.model.temperature"] <= 0.5
    exported = best.export(adapter)
    assert exported.invoke({"question": "What is 20 + 22?"}) == "The answer is 42."  # type: ignore[attr-defined]
    assert simple_chain.invoke({"question": "What is 20 + 22?"}) == "The answer is 43."


def test_loading_the_plugin_does_not_import_langchain() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stacktune_langchain.plugin\n"
        "assert 'langchain_core' not in sys.modules, 'the plugin imported langchain_core'\n"
        "from stacktune_langchain import tune, LangChainAdapter\n"
        "assert callable(tune) and 'langchain_core' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
