"""Fixtures of the core's tests.

- Studies the report's tests look at: built once per test module, in memory, deterministic.
- The real servers the scale-out tests use: PostgreSQL and Redis on 127.0.0.1. Each test gets a
  database (or Redis keys) of its own and leaves nothing behind. A server that cannot be reached
  skips the test with the reason, except under ``CI=true``, where it fails: CI must run them.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

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


# -- the real servers ------------------------------------------------------------------------------------
POSTGRES = os.environ.get("STACKTUNE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("STACKTUNE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unreachable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({type(exc).__name__}: {str(exc).strip()[:200]})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}: CI runs these tests against the real server", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (``postgresql://...``), dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    except Exception as exc:
        _unreachable(f"PostgreSQL at {POSTGRES}", exc)
    name = f"stacktune_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = POSTGRES.rpartition("/")
        try:
            yield f"{base}/{name}"
        finally:
            _close_connections()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _close_connections() -> None:
    """Close what the test left open to its database (pooled connections of storages and shared states)."""
    from stacktune.shared import close_shared_states

    close_shared_states()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis server; the keys this test's scopes made (``stacktune:*<test id>*``) are deleted afterwards."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS)
        client.ping()
    except Exception as exc:
        _unreachable(f"Redis at {REDIS}", exc)
    try:
        yield REDIS
    finally:
        for key in client.scan_iter(match="stacktune:*"):
            if b"pytest-" in key:
                client.delete(key)
        client.close()


@pytest.fixture
def write_task_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """Write a task file (its text) in a fresh working directory that can import the tests' modules; its CLI name."""

    def write(text: str) -> str:
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(Path(__file__).parent))
        (tmp_path / "task.py").write_text(text)
        return "task.py:task"

    return write
