"""The response cache: keyed by every parameter that changes the answer (never by credentials), tied to the study."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from pydantic import BaseModel

from stacktune import Evaluation, Float, Metric, ResultCallback, Space, create_study, evaluate_examples
from stacktune.cache import (
    CachedResponse,
    FileCache,
    MemoryCache,
    RedisCache,
    ResponseCache,
    SqlCache,
    cache_key,
    current_cache,
    open_cache,
    resolve_cache,
    using_cache,
)
from stacktune.usage import Usage, record_usage

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is this good?"}]
PARAMS: dict[str, Any] = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 16, "stop": ["\n"], "seed": 0}


# -- the key ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.7},
        {"top_p": 0.9},
        {"max_tokens": 17},
        {"stop": ["."]},
        {"stop": []},
        {"seed": 1},
        {"seed": None},
        {"n": 2},
        {"presence_penalty": 0.5},
        {"tools": [{"type": "function", "function": {"name": "lookup"}}]},
        {"response_format": {"type": "json_object"}},
        {"model_kwargs": {"logit_bias": {"1": 5}}},
    ],
)
def test_every_parameter_that_changes_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert cache_key("m", {**PARAMS, **change}, MESSAGES) != cache_key("m", PARAMS, MESSAGES)


@pytest.mark.parametrize(
    "credentials",
    [
        {"api_key": "sk-one"},
        {"openai_api_key": "sk-two"},
        {"headers": {"Authorization": "Bearer x"}},
        {"default_headers": {"X-Team": "a"}},
        {"extra_headers": {"X-Trace": "1"}},
        {"timeout": 3},
        {"max_retries": 5},
        {"num_retries": 2},
        {"callbacks": ["a callback"]},
        {"model_kwargs": {"logit_bias": {"1": 5}, "api_key": "sk-nested"}},
    ],
)
def test_credentials_and_transport_never_change_the_key(credentials: dict[str, Any]) -> None:
    base = {**PARAMS, "model_kwargs": {"logit_bias": {"1": 5}}} if "model_kwargs" in credentials else PARAMS
    assert cache_key("m", {**base, **credentials}, MESSAGES) == cache_key("m", base, MESSAGES)


def test_the_model_and_the_messages_change_the_key_and_the_order_of_params_does_not() -> None:
    assert cache_key("m", PARAMS, MESSAGES) != cache_key("n", PARAMS, MESSAGES)
    assert cache_key("m", PARAMS, MESSAGES) != cache_key("m", PARAMS, [*MESSAGES[:1], {"role": "user", "content": "?"}])
    assert cache_key("m", dict(reversed(list(PARAMS.items()))), MESSAGES) == cache_key("m", PARAMS, MESSAGES)


class Answer(BaseModel):
    label: str


class Other(BaseModel):
    label: int


def test_a_pydantic_response_format_is_keyed_by_its_schema() -> None:
    assert cache_key("m", {"response_format": Answer}, MESSAGES) == cache_key(
        "m", {"response_format": Answer}, MESSAGES
    )
    assert cache_key("m", {"response_format": Answer}, MESSAGES) != cache_key("m", {"response_format": Other}, MESSAGES)


def test_bad_key_input_names_the_culprit() -> None:
    with pytest.raises(ValueError, match="model's identity"):
        cache_key("", PARAMS, MESSAGES)
    with pytest.raises(TypeError, match="parameters as a mapping"):
        cache_key("m", [("temperature", 0)], MESSAGES)  # type: ignore[arg-type]


# -- the stores ------------------------------------------------------------------------------------------
@pytest.fixture(params=["memory", "file", "postgres", "redis"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResponseCache]:
    if request.param == "memory":
        made: ResponseCache = MemoryCache()
    elif request.param == "file":
        made = FileCache(tmp_path / "cache")
    elif request.param == "postgres":
        made = open_cache(request.getfixturevalue("postgres_url").replace("postgresql://", "postgresql+psycopg://"))
    else:
        made = open_cache(request.getfixturevalue("redis_url"))
    yield made
    made.close()  # before the test's database is dropped


class TestStores:
    def test_put_get_len_clear(self, cache: ResponseCache) -> None:
        key = f"pytest-{uuid.uuid4().hex}"
        assert cache.get(key) is None
        entry = CachedResponse("positive", 12, 1, 0.25, payload='{"raw": true}')
        cache.put(key, entry)
        cache.put(key, CachedResponse("negative", 1, 1, 9.0))  # the first answer stays
        assert cache.get(key) == entry
        assert len(cache) >= 1 and bool(cache)
        cache.clear()
        assert cache.get(key) is None
        cache.close()

    def test_threads_writing_and_reading_together(self, cache: ResponseCache) -> None:
        errors: list[BaseException] = []
        prefix = f"pytest-{uuid.uuid4().hex[:8]}"

        def work(worker: int) -> None:
            try:
                for i in range(20):
                    cache.put(f"{prefix}-{worker}-{i}", CachedResponse(f"text {i}", i, 1, 0.5))
                    assert cache.get(f"{prefix}-{worker}-{i}") == CachedResponse(f"text {i}", i, 1, 0.5)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len(cache) >= 80
        private = isinstance(cache, (MemoryCache, FileCache))  # a fresh store of this test's own
        if private:
            assert len(cache) == 80, "exactly what was written"
        cache.clear()
        if private:
            assert len(cache) == 0 and cache.get(f"{prefix}-0-0") is None


def test_a_file_cache_is_created_on_first_use(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "later")
    assert not (tmp_path / "later").exists()
    cache.put("k", CachedResponse("t", 1, 1, 0.1))
    assert cache.path.is_file() and cache.get("k") == CachedResponse("t", 1, 1, 0.1)
    cache.close()
    assert FileCache(tmp_path / "later").get("k") is not None  # persists


def test_the_old_constructor_still_works_and_says_it_moved(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="FileCache"):
        cache = ResponseCache(tmp_path)  # type: ignore[abstract]
    assert isinstance(cache, FileCache) and cache.directory == tmp_path


def test_resolve_cache_follows_the_option_then_the_study(tmp_path: Path) -> None:
    mine, studys = MemoryCache(), MemoryCache()
    assert resolve_cache(True) is None and resolve_cache(None, default=mine) is mine
    with using_cache(studys):
        assert current_cache() is studys
        assert resolve_cache(True) is studys and resolve_cache(None, default=mine) is studys
        assert resolve_cache(mine) is mine and resolve_cache(False) is None
    assert current_cache() is None
    assert isinstance(resolve_cache(str(tmp_path / "d")), FileCache)
    with pytest.raises(TypeError, match="cache must be"):
        resolve_cache(42)  # type: ignore[arg-type]


# -- tied to the study ------------------------------------------------------------------------------------
class TestWhereItLives:
    def test_an_rdb_storage_keeps_it_in_the_same_database(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/s.db"
        study = create_study(study_name="pytest-where", storage=url)
        cache = study.response_cache
        assert isinstance(cache, SqlCache) and cache.where == url
        assert cache.engine is study.optuna_study._storage._backend.engine  # type: ignore[attr-defined]
        cache.put("k", CachedResponse("t", 1, 1, 0.1))
        import sqlalchemy as sa

        assert "stacktune_responses" in sa.inspect(sa.create_engine(url)).get_table_names()

    def test_in_memory_storage_keeps_it_in_memory(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage())
        assert isinstance(study.response_cache, MemoryCache)

    def test_a_journal_keeps_it_beside_the_file(self, tmp_path: Path) -> None:
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "j.log")))
        study = create_study(storage=storage)
        assert isinstance(study.response_cache, SqlCache) and study.response_cache.where.endswith("j.log.stacktune.db")

    def test_redis_shared_state_keeps_it_in_redis(self, redis_url: str, tmp_path: Path) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), shared_state=redis_url)
        assert isinstance(study.response_cache, RedisCache)

    def test_it_can_be_given_or_turned_off(self, tmp_path: Path) -> None:
        memory = optuna.storages.InMemoryStorage()
        assert create_study(storage=memory, response_cache=False).response_cache is None
        mine = MemoryCache()
        assert create_study(storage=memory, study_name="b", response_cache=mine).response_cache is mine
        given = create_study(storage=memory, study_name="c", response_cache=str(tmp_path / "answers"))
        assert isinstance(given.response_cache, FileCache)
        with pytest.raises(TypeError, match="response_cache must be"):
            create_study(storage=memory, study_name="d", response_cache=3)  # type: ignore[arg-type]


class CachedToy:
    """An Optimizable whose one "LLM call" per example goes through the current cache, as adapters' do.

    The answer depends on the temperature; ``calls`` counts what reached the "model".
    """

    def __init__(self, temperature: float = 0.0, calls: list[str] | None = None) -> None:
        self.temperature = temperature
        self.calls = calls if calls is not None else []
        self.seen: list[ResponseCache | None] = []

    def extract_variables(self) -> Space:
        return Space([Float("temperature", 0.0, 1.0, step=0.5, default=self.temperature)])

    def apply_configuration(self, configuration: Mapping[str, object]) -> CachedToy:
        values = self.extract_variables().validate_configuration(configuration)
        new = CachedToy(float(values.get("temperature", self.temperature)), self.calls)  # type: ignore[arg-type]
        new.seen = self.seen
        return new

    def answer(self, example: str) -> str:
        cache = current_cache()
        self.seen.append(cache)
        key = cache_key("toy", {"temperature": self.temperature, "api_key": uuid.uuid4().hex}, [example])
        stored = cache.get(key) if cache is not None else None
        hit = stored is not None
        if stored is None:
            self.calls.append(example)
            stored = CachedResponse(f"{example}@{self.temperature}", 3, 1, 0.01)
            if cache is not None:
                cache.put(key, stored)
        record_usage(
            Usage(calls=1, input_tokens=3, output_tokens=1, cache_hits=int(hit), cached_tokens=4 if hit else 0)
        )
        return stored.text

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        return evaluate_examples(dataset, lambda e: self.answer(str(e)), metric, on_result=on_result)


def _metric(example: object, prediction: object) -> float:
    return 1.0 if str(prediction).endswith("@0.0") else 0.0


DATASET = [f"example {i}" for i in range(4)]


def test_trials_find_the_studys_cache_and_code_outside_does_not() -> None:
    study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
    toy = CachedToy()
    study.optimize(toy, DATASET, _metric, n_trials=3, n_jobs=2, max_concurrency=2)
    assert toy.seen and all(c is study.response_cache for c in toy.seen)
    toy.answer("outside")
    assert toy.seen[-1] is None


def test_a_repeated_study_pays_nothing_for_answers_it_has(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/repeat.db"
    first = CachedToy()
    create_study(study_name="one", storage=url, seed=0).optimize(first, DATASET, _metric, n_trials=6)
    assert first.calls, "the first study calls the model"
    again = CachedToy()
    create_study(study_name="two", storage=url, seed=0).optimize(again, DATASET, _metric, n_trials=6)
    assert again.calls == [], "the same configurations, on the same storage: every answer is in the cache"


_WORKER = """
import sys
from stacktune import create_study
sys.path.insert(0, {tests!r})
from test_cache import CachedToy, DATASET, _metric
toy = CachedToy()
study = create_study(study_name=sys.argv[2], storage=sys.argv[1], seed=0)
study.optimize(toy, DATASET, _metric, n_trials=6)
print(len(toy.calls), study.spent.calls, type(study.response_cache).__name__, len(study.response_cache))
"""


def worker(url: str, name: str) -> list[str]:
    """A worker process running the study; what reached the model, what the study spent, its cache."""
    script = _WORKER.format(tests=str(Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script, url, name], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()[-4:]


def test_two_processes_on_postgresql_share_the_cache(postgres_url: str) -> None:
    name = f"pytest-cache-{uuid.uuid4().hex[:8]}"
    calls, spent, kind, stored = worker(postgres_url, name)
    assert int(calls) > 0 and int(spent) == int(calls) and kind == "SqlCache" and int(stored) == int(calls)
    calls, spent, _, stored_after = worker(postgres_url, name + "-again")
    assert (int(calls), int(spent)) == (0, 0), "the second process's repeat is served from the study's database"
    assert stored_after == stored
