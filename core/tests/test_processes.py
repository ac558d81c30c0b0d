"""Processes that start together, are killed or terminated: what other processes and resumed studies see."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest

from stacktune import create_study, load_study
from stacktune.study._heartbeat import REQUEUED_FROM_ATTR
from stacktune.study.create import open_storage
from stacktune.testing import ToyProgram, toy_dataset, toy_metric

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CHILD = textwrap.dedent("""
    import sys, time
    import stacktune
    from stacktune.testing import ToyProgram, toy_dataset, toy_metric

    class Slow(ToyProgram):
        def apply_configuration(self, configuration):
            applied = super().apply_configuration(configuration)
            return Slow(applied.strategy, applied.steps, applied.temperature, applied.style)

        def evaluate(self, dataset, metric, **kwargs):
            def slowly(example, prediction):
                time.sleep(0.05)
                return toy_metric(example, prediction)
            return super().evaluate(dataset, slowly, **kwargs)

    study = stacktune.create_study(study_name="victim", storage=sys.argv[1], seed=0)
    space = Slow().extract_variables().fix(style="terse")  # no constraint to reject: every trial asked runs
    study.optimize(Slow(), toy_dataset(400), toy_metric, space=space, n_trials=5, n_jobs=int(sys.argv[2]),
                   grace_period=30)
""")


def start_child(storage: str, n_jobs: int = 1) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, storage, str(n_jobs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_for_running(storage: str, count: int = 1, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = optuna.load_study(study_name="victim", storage=storage).get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
            )
            if len(trials) >= count:
                time.sleep(0.3)  # a few examples into the trial
                return
        except Exception:  # not created yet, or the child holds the database lock: poll again
            pass
        time.sleep(0.05)
    raise AssertionError("the child never started a trial")


@pytest.mark.parametrize("n_jobs", [1, 3])
def test_sigterm_stores_the_running_trials_as_failed(tmp_path: Path, n_jobs: int) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    child = start_child(storage, n_jobs)
    wait_for_running(storage, count=n_jobs)
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode != 0
    trials = load_study("victim", storage=storage).trials
    assert trials, stderr.decode()
    states = [(t.number, t.state, t.error, t.examples_evaluated) for t in trials]
    assert not [t for t in trials if t.state == "running"], f"nothing is left running: {states}"
    interrupted = [t for t in trials if t.state == "fail"]
    assert len(interrupted) == n_jobs and all(t.error == "interrupted" for t in interrupted), states
    assert all(t.examples_evaluated < 400 for t in interrupted), "stopped within a few examples"


def test_a_killed_workers_trial_is_reclaimed_and_its_configuration_runs_again(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    child = start_child(storage)
    wait_for_running(storage)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    dead = [
        t
        for t in optuna.load_study(study_name="victim", storage=storage).trials
        if t.state == optuna.trial.TrialState.RUNNING
    ]
    assert len(dead) == 1, "kill -9 leaves the trial running"
    time.sleep(0.6)  # the grace period below passes without a heartbeat

    study = create_study(study_name="victim", storage=storage, seed=0)
    study.optimize(
        ToyProgram(),
        toy_dataset(400),
        toy_metric,
        n_trials=1,
        grace_period=0.5,
        space=ToyProgram().extract_variables().fix(style="terse"),
    )  # the dead worker's space
    trials = {t.number: t for t in study.trials}
    reclaimed = trials[dead[0].number]
    assert reclaimed.state == "fail" and (reclaimed.error or "").startswith("reclaimed: no heartbeat for")
    rerun = [t for t in study.optuna_study.trials if t.user_attrs.get(REQUEUED_FROM_ATTR) == dead[0].number]
    assert len(rerun) == 1, "queued again exactly once"
    assert rerun[0].params == dead[0].params and rerun[0].state == optuna.trial.TrialState.COMPLETE
    assert not [t for t in study.trials if t.state == "running"]


def test_a_live_trial_is_not_reclaimed(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    child = start_child(storage)
    try:
        wait_for_running(storage)
        time.sleep(1.0)
        study = create_study(study_name="victim", storage=storage, seed=0)
        study.optimize(
            ToyProgram(),
            toy_dataset(400),
            toy_metric,
            n_trials=1,
            grace_period=30,
            space=ToyProgram().extract_variables().fix(style="terse"),
        )
        assert not [t for t in study.trials if t.state == "fail"], "its heartbeat is fresh: it keeps running"
    finally:
        child.kill()
        child.communicate(timeout=30)


def test_processes_creating_a_new_sqlite_study_together_all_succeed(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/new.db"
    start = time.time() + 1.5
    code = textwrap.dedent(f"""
        import time, stacktune
        while time.time() < {start}:
            pass
        stacktune.create_study(study_name="together", storage={storage!r})
    """)
    children = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(4)]
    errors = [child.communicate(timeout=60)[1].decode() for child in children]
    assert [child.returncode for child in children] == [0, 0, 0, 0], errors
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["together"]


def test_a_queued_trial_on_sqlite_goes_to_one_worker_only(tmp_path: Path) -> None:
    # Optuna reads a queued trial WAITING then writes it RUNNING; without a write lock taken at
    # BEGIN, two storages on one SQLite file both ran the same queued trial (the baseline twice).
    url = f"sqlite:///{tmp_path}/queue.db"
    queued = optuna.create_study(storage=open_storage(url), study_name="queue")
    for x in range(40):
        queued.enqueue_trial({"x": x}, skip_if_exists=False)
    handed_out: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        study = optuna.load_study(study_name="queue", storage=open_storage(url))
        barrier.wait()
        handed_out.extend(study.ask().number for _ in range(15))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(handed_out) == list(range(60)), "every trial, queued or new, went to exactly one worker"


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("sqlite:////no/such/dir/x.db", "cannot open storage 'sqlite:////no/such/dir/x.db'.*does the directory"),
        ("nosuchdb://x", "cannot open storage 'nosuchdb://x'.*give an Optuna storage URL"),
    ],
)
def test_storage_errors_name_the_url_and_the_fix(storage: str, message: str) -> None:
    from stacktune import StacktuneError

    with pytest.raises(StacktuneError, match=message):
        create_study(storage=storage)
