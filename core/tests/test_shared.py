"""What every process of a study shares: counters in memory, SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import optuna
import pytest

from stacktune import Budget, StacktuneError, create_study
from stacktune.shared import MemoryState, SharedState, SqlState, open_shared_state, shared_state_for
from stacktune.study import delete_study
from stacktune.study._ledger import study_scope
from stacktune.testing import ToyProgram, toy_dataset, toy_metric


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> SharedState:
    if request.param == "memory":
        return MemoryState()
    if request.param == "sqlite":
        return open_shared_state(f"sqlite:///{tmp_path}/state.db")
    url = request.getfixturevalue("postgres_url" if request.param == "postgres" else "redis_url")
    if request.param == "postgres":
        return open_shared_state(url.replace("postgresql://", "postgresql+psycopg://"))
    return open_shared_state(url)


def scope() -> str:
    return f"pytest-{uuid.uuid4().hex[:8]}"


class TestCounters:
    def test_add_initialize_and_read(self, state: SharedState) -> None:
        s = scope()
        state.add(s, {"a": 1, "b": 2.5})
        state.add(s, {"a": 1})
        state.initialize(s, "i", 5)
        state.initialize(s, "i", 7)  # the first one wins
        assert state.values(s) == {"a": 2.0, "b": 2.5, "i": 5.0}
        state.delete(s)
        assert state.values(s) == {}

    def test_add_at_most_never_passes_the_limit(self, state: SharedState) -> None:
        s = scope()
        assert state.add_at_most(s, "new", 1, 1), "a missing counter starts at 0"
        assert not state.add_at_most(s, "new", 1, 1)
        state.delete(s)

    def test_threads_claiming_together_get_exactly_the_limit(self, state: SharedState) -> None:
        s = scope()
        wins: list[bool] = []

        def claim() -> None:
            for _ in range(10):
                wins.append(state.add_at_most(s, "claims", 1, 25))

        threads = [threading.Thread(target=claim) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(wins) == 25 and state.values(s)["claims"] == 25
        state.delete(s)

    def test_a_reserved_clock_moves_from_now_or_from_where_it_was(self, state: SharedState) -> None:
        s = scope()
        assert state.reserve(s, "clock", 1.0, 100.0) == pytest.approx(101.0)
        assert state.reserve(s, "clock", 1.0, 100.5) == pytest.approx(102.0), "still ahead of now: queued after"
        assert state.reserve(s, "clock", 1.0, 200.0) == pytest.approx(201.0), "idle since: starts from now"
        state.delete(s)


class TestWhereItLives:
    def test_an_rdb_storage_keeps_it_in_the_same_database(self, tmp_path: Path) -> None:
        study = create_study(study_name="pytest-where", storage=f"sqlite:///{tmp_path}/s.db")
        assert isinstance(study.shared_state, SqlState) and study.shared_state.where == f"sqlite:///{tmp_path}/s.db"

    def test_a_journal_file_keeps_it_in_a_sqlite_file_beside_it(self, tmp_path: Path) -> None:
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
        state = shared_state_for(storage)
        assert isinstance(state, SqlState) and state.where == f"sqlite:///{tmp_path}/journal.log.stacktune.db"

    def test_the_in_memory_storage_keeps_it_in_the_process(self) -> None:
        storage = optuna.storages.InMemoryStorage()
        assert isinstance(shared_state_for(storage), MemoryState)
        assert shared_state_for(storage) is shared_state_for(storage), "one state per storage"

    def test_redis_when_configured(self, redis_url: str, tmp_path: Path) -> None:
        name = f"pytest-redis-{uuid.uuid4().hex[:6]}"
        study = create_study(study_name=name, storage=f"sqlite:///{tmp_path}/s.db", shared_state=redis_url)
        assert study.shared_state.where == redis_url
        study.optimize(ToyProgram(), toy_dataset(5), toy_metric, total_trials=4, budget=Budget(calls=1000))
        assert len([t for t in study.trials if t.rejected_by is None]) == 4
        assert study.spent.calls == sum(t.examples_evaluated for t in study.trials) > 0, "spent, as Redis holds it"
        assert study.shared_state.values(study_scope(study.optuna_study))["trials"] == 4

    def test_a_bare_postgresql_url_is_opened_with_psycopg_3(self, postgres_url: str) -> None:
        study = create_study(study_name="pytest-pg", storage=postgres_url)
        assert study.optuna_study._storage._backend.engine.dialect.driver == "psycopg"

    def test_a_missing_driver_says_what_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(__import__("sys").modules, "psycopg", None)
        with pytest.raises(StacktuneError, match=r"psycopg 3 driver: pip install 'stacktune\[postgres\]'"):
            create_study(storage="postgresql://postgres@127.0.0.1:5432/test")


class TestTheStudysCounters:
    def test_total_trials_counts_every_thread_and_every_optimize_call(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path}/s.db"
        space = ToyProgram().extract_variables().fix(style="terse")
        first = create_study(study_name="total", storage=storage, seed=0)
        first.optimize(ToyProgram(), toy_dataset(10), toy_metric, space=space, n_trials=3)
        again = create_study(study_name="total", storage=storage, seed=1)
        again.optimize(ToyProgram(), toy_dataset(10), toy_metric, space=space, total_trials=11, n_jobs=3)
        assert len(again.trials) == 11, "3 from the first call, 8 more to make the study's 11"
        again.optimize(ToyProgram(), toy_dataset(10), toy_metric, space=space, total_trials=11)
        assert len(again.trials) == 11 and again.last_stop_reason == "the study holds its 11 trials"

    def test_rejected_configurations_do_not_count(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), toy_dataset(4), toy_metric, total_trials=15)
        rejected = [t for t in study.trials if t.rejected_by is not None]
        assert rejected, "the toy's constraint rejects some sampled configurations"
        assert len(study.trials) - len(rejected) == 15

    def test_the_budget_counts_what_the_whole_study_spent(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path}/s.db"
        program = ToyProgram()
        study = create_study(study_name="budget", storage=storage)
        study.optimize(program, toy_dataset(10), toy_metric, n_trials=2)
        assert study.spent.calls == 20, "spent is stored without a budget too, trial by trial"
        other = create_study(study_name="budget", storage=storage)  # another process, as far as it knows
        other.optimize(program, toy_dataset(10), toy_metric, n_trials=50, budget=Budget(calls=35))
        assert program.counter.count == 35, "20 spent before, 15 more to the study's 35"
        assert other.spent.calls == 35 and "call budget 35 spent" in (other.last_stop_reason or "")
        other.optimize(program, toy_dataset(10), toy_metric, n_trials=50, budget=Budget(calls=35))
        assert program.counter.count == 35, "a resumed study goes on from what it spent: nothing more"

    def test_threads_of_two_studies_share_one_budget(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path}/s.db"
        create_study(study_name="shared", storage=storage)
        program = ToyProgram()

        def work() -> None:
            create_study(study_name="shared", storage=storage).optimize(
                program, toy_dataset(10), toy_metric, n_trials=100, budget=Budget(calls=60)
            )

        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 60 <= program.counter.count <= 62, f"within one call per concurrent slot: {program.counter.count}"

    def test_the_baseline_is_queued_once_however_many_start(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path}/s.db"
        studies = [create_study(study_name="base", storage=storage, seed=i) for i in range(3)]
        barrier = threading.Barrier(3)

        def work(index: int) -> None:
            barrier.wait()
            studies[index].optimize(ToyProgram(), toy_dataset(4), toy_metric, n_trials=2)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for t in studies[0].optuna_study.trials if t.user_attrs.get("stacktune:baseline")) == 1

    def test_deleting_a_study_forgets_its_counters(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path}/s.db"
        study = create_study(study_name="gone", storage=storage)
        study.optimize(ToyProgram(), toy_dataset(4), toy_metric, n_trials=2)
        scope_before = study_scope(study.optuna_study)
        assert delete_study("gone", storage=storage) and not delete_study("gone", storage=storage)
        assert study.shared_state.values(scope_before) == {}
        fresh = create_study(study_name="gone", storage=storage)
        assert fresh.spent.calls == 0


def test_without_a_budget_spending_is_written_every_second_and_at_each_trials_end() -> None:
    from stacktune.study._ledger import StudyLedger
    from stacktune.usage import Usage

    study = create_study(storage=optuna.storages.InMemoryStorage())
    ledger = StudyLedger(study.shared_state, study.optuna_study, immediate=False)
    ledger.record(Usage(calls=1))
    assert study.spent.calls == 0 and ledger.spent().calls == 1, "gathered, and counted by this process"
    ledger._flushed_at -= StudyLedger.FLUSH_EVERY
    ledger.record(Usage(calls=1))
    assert study.spent.calls == 2, "a second passed: written"


def test_a_claim_that_never_became_a_trial_is_claimed_again(tmp_path: Path) -> None:
    from stacktune.study._ledger import StudyLedger

    storage = f"sqlite:///{tmp_path}/s.db"
    study = create_study(study_name="lost", storage=storage, seed=0)
    space = ToyProgram().extract_variables().fix(style="terse")
    study.optimize(ToyProgram(), toy_dataset(4), toy_metric, space=space, total_trials=2)
    dead = StudyLedger(study.shared_state, study.optuna_study, immediate=False)
    assert dead.claim(5), "a process claims a trial, then dies before creating it"
    study.optimize(ToyProgram(), toy_dataset(4), toy_metric, space=space, total_trials=5)
    assert len(study.trials) == 5, "the lost claim is recovered: the study still gets its 5 trials"
    assert dead.trials() == 5
