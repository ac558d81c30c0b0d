"""Studies the report's tests look at: built once per test module, in memory, deterministic."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import optuna
import pytest

from stacktune import OptunaSearch, Study, create_study
from stacktune.evaluation import PREDICTION_SAMPLE
from stacktune.testing import ToyProgram, ToyPrompt, toy_dataset, toy_label_metric, toy_metric, toy_reviews


def _pareto_study(objectives: tuple[str, ...] = ("score", "tokens")) -> Study:
    study = create_study(
        study_name="pareto",
        storage=optuna.storages.InMemoryStorage(),
        objectives=objectives,
        search=OptunaSearch(optuna.samplers.RandomSampler(seed=2)),
    )
    study.optimize(ToyProgram(), toy_dataset(20), toy_metric, n_trials=12)
    return study


def _prompt_study(n_trials: int = 8, **program: float) -> Study:
    """Long instruction texts; with ``fail_above`` some trials fail; with ``cost_usd=0`` every call is free."""
    study = create_study(
        study_name="prompt",
        storage=optuna.storages.InMemoryStorage(),
        search=OptunaSearch(optuna.samplers.RandomSampler(seed=4)),
    )
    study.optimize(ToyPrompt(**program), toy_reviews(PREDICTION_SAMPLE + 10), toy_label_metric, n_trials=n_trials)
    return study


@pytest.fixture(scope="module")
def raced() -> Study:
    """One objective, the default search: a baseline, a few complete trials, most raced out, some rejected."""
    study = create_study(study_name="raced", storage=optuna.storages.InMemoryStorage(), seed=0)
    study.optimize(ToyProgram(), toy_dataset(40), toy_metric, n_trials=20)
    return study


@pytest.fixture(scope="module")
def pareto() -> Study:
    """Score against tokens, random search, every trial complete."""
    return _pareto_study()


@pytest.fixture(scope="module")
def prompts() -> Study:
    """The ToyPrompt: its best fixes every odd review the baseline missed."""
    return _prompt_study()


@pytest.fixture
def make_pareto_study() -> Callable[..., Study]:
    return _pareto_study


@pytest.fixture
def make_prompt_study() -> Callable[..., Study]:
    return _prompt_study


@pytest.fixture
def hide_module(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``hide_module("plotly")``: from now on the module looks uninstalled to ``importlib.util.find_spec``."""
    real = importlib.util.find_spec

    def hide(name: str) -> None:
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda wanted, *a: None if wanted == name else real(wanted, *a)
        )

    return hide
