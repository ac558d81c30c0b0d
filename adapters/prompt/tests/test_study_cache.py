"""Inside a study, a Prompt's answers live in the study's cache: a repeat, a resume, another process pay nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stacktune
from stacktune import Budget
from stacktune.cache import SqlCache
from stacktune_prompt import Prompt, SearchRanges
from stacktune_prompt.testing import KeywordSentimentModel, sentiment_examples

from .conftest import FORMATS, INSTRUCTIONS, NO_WAIT, accuracy


def study_prompt(model: KeywordSentimentModel) -> Prompt:
    """The default cache (True): the study's inside its trials."""
    return Prompt(
        instructions=INSTRUCTIONS[0],
        instruction_candidates=INSTRUCTIONS,
        template="Review: {text}",
        model=model,
        parsers=FORMATS,
        demos=sentiment_examples()[:4],
        n_demos=1,
        max_tokens=16,
        ranges=SearchRanges(max_tokens=(1, 1024)),
        retry=NO_WAIT,
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the file cache, if anything used it, would land here
    return tmp_path


def run(storage: str, name: str, model: KeywordSentimentModel, **options: Any) -> stacktune.Study:
    study = stacktune.create_study(study_name=name, storage=storage, seed=0)
    study.optimize(study_prompt(model), sentiment_examples(), accuracy, n_trials=options.pop("n_trials", 6), **options)
    return study


def test_the_studys_cache_holds_the_answers_not_the_file_cache(workdir: Path) -> None:
    storage = f"sqlite:///{workdir}/study.db"
    study = run(storage, "first", KeywordSentimentModel())
    assert isinstance(study.response_cache, SqlCache) and len(study.response_cache) > 0
    assert not (workdir / ".stacktune-cache").exists()


def test_a_repeated_study_pays_zero_calls_and_a_call_budget_does_not_count_hits(workdir: Path) -> None:
    storage = f"sqlite:///{workdir}/study.db"
    first_model = KeywordSentimentModel()
    first = run(storage, "first", first_model)
    assert first_model.calls > 0 and first.spent.calls == first_model.calls
    again_model = KeywordSentimentModel()
    again = run(storage, "again", again_model, budget=Budget(calls=1))
    assert again_model.calls == 0, "every answer of the repeat is in the study's storage"
    assert again.spent.calls == 0 and len(again.trials) == len(first.trials), "hits cost nothing: the budget held"
    hits = [t.evaluation.cache_hits for t in again.trials if t.evaluation is not None]
    assert hits and all(h > 0 for h in hits)


def test_a_resumed_study_pays_nothing_for_a_configuration_it_ran(workdir: Path) -> None:
    storage = f"sqlite:///{workdir}/study.db"
    model = KeywordSentimentModel()
    first = run(storage, "resumed", model, n_trials=3)
    assert model.calls > 0
    resumed = stacktune.load_study("resumed", storage=storage)
    resumed.optuna_study.enqueue_trial(dict(first.trials[-1].configuration))
    fresh = KeywordSentimentModel()
    resumed.optimize(study_prompt(fresh), sentiment_examples(), accuracy, n_trials=1)
    assert fresh.calls == 0 and len(resumed.trials) == 4
    assert resumed.trials[-1].evaluation is not None and resumed.trials[-1].evaluation.cache_hits > 0


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A schema of its own in the ``test`` database (the storage and the cache inside it), dropped afterwards."""
    base = os.environ.get("STACKTUNE_TEST_POSTGRES_DB", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import psycopg

        admin = psycopg.connect(base, autocommit=True)
    except Exception as exc:
        message = f"PostgreSQL at {base} is not reachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI runs these tests against the real server", pytrace=False)
        pytest.skip(message)
    schema = f"pytest_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            from stacktune.shared import close_shared_states

            close_shared_states()
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


_WORKER = """
import sys
import stacktune
from stacktune_prompt.testing import KeywordSentimentModel, label_in_answer, sentiment_examples, sentiment_prompt

model = KeywordSentimentModel()
prompt = sentiment_prompt(model)
study = stacktune.create_study(study_name=sys.argv[2], storage=sys.argv[1], seed=0)
study.optimize(prompt, sentiment_examples(), label_in_answer, n_trials=6)
print(model.calls, study.spent.calls, study.response_cache.engine.dialect.name)
"""


def worker(url: str, name: str, cwd: Path) -> list[str]:
    """One worker process running a study; what it paid and where its cache lives."""
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, url, name], capture_output=True, text=True, timeout=180, check=False, cwd=cwd
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-3:]


def test_two_processes_on_postgresql_share_the_answers(postgres_schema: str, tmp_path: Path) -> None:
    name = f"pytest-{uuid.uuid4().hex[:8]}"
    calls, spent, dialect = worker(postgres_schema, name, tmp_path)
    assert int(calls) > 0 and int(spent) == int(calls) and dialect == "postgresql", "the first process pays"
    calls, spent, _ = worker(postgres_schema, name + "-again", tmp_path)
    assert (int(calls), int(spent)) == (0, 0), "the second process's repeat is served from PostgreSQL"


def test_verifying_again_costs_nothing(workdir: Path) -> None:
    study = run(f"sqlite:///{workdir}/study.db", "verified", KeywordSentimentModel(), n_trials=3)
    held_out = [  # never seen by the search
        {"text": "What a wonderful, happy afternoon.", "label": "positive"},
        {"text": "Terrible service, I hated every minute.", "label": "negative"},
    ]
    model = KeywordSentimentModel()
    study.verify(study_prompt(model), held_out, accuracy)
    paid = model.calls
    again = KeywordSentimentModel()
    study.verify(study_prompt(again), held_out, accuracy)
    assert paid > 0 and again.calls == 0
