"""Worker processes on one study in the real PostgreSQL: exact trial counts, kills, one race, one budget."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from stacktune import Budget, create_study, load_study
from stacktune.study._heartbeat import PROCESS_ATTR, RECLAIMED_ATTR, REQUEUED_FROM_ATTR
from stacktune.study.create import open_storage
from stacktune.testing import ToyProgram, toy_dataset, toy_metric

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"), pytest.mark.slow]

BAD = {"strategy": "direct", "temperature": 1.0, "style": "verbose"}  # far below the best


def start_workers(n: int, storage: str, study: str, *arguments: str) -> list[subprocess.Popen[str]]:
    """``stacktune worker toy`` processes, as a job scheduler would start them."""
    command = [sys.executable, "-m", "stacktune", "worker", "toy", "--storage", storage, "--study-name", study]
    return [
        subprocess.Popen(
            [*command, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "STACKTUNE_WORKER_INDEX": str(i)},
        )
        for i in range(n)
    ]


def finish(workers: list[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    """Each worker's output; every one must exit 0."""
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, f"worker exited {worker.returncode}:\n{out}\n{err[-3000:]}"
        outputs.append(out)
    return outputs


def ran(outputs: list[str]) -> list[int]:
    """How many trials each worker says it ran."""
    return [int(re.search(r"ran (\d+) trials", out).group(1)) for out in outputs]  # type: ignore[union-attr]


def counted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials a study's total counts: not rejected by a constraint, not reclaimed from a dead process."""
    return [
        t
        for t in trials
        if not t.system_attrs.get(RECLAIMED_ATTR) and "rejected_by" not in t.user_attrs.get("stacktune", {})
    ]


_OPENED: dict[str, optuna.storages.BaseStorage] = {}


def stored(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    """The study's trials as stored (one storage per URL: polling opens no new connections)."""
    opened = _OPENED.get(storage) or _OPENED.setdefault(storage, open_storage(storage))
    return optuna.load_study(study_name=study, storage=opened).get_trials(deepcopy=False)


@pytest.fixture(autouse=True)
def _close_storages() -> Iterator[None]:
    yield
    for opened in _OPENED.values():
        getattr(opened, "_backend", opened).engine.dispose()
    _OPENED.clear()


def test_four_workers_run_exactly_the_studys_trials(postgres_url: str) -> None:
    workers = start_workers(4, postgres_url, "four", "--trials", "24", "--option", "delay=0.005", "--seed", "0")
    outputs = finish(workers)
    trials = stored(postgres_url, "four")
    assert len(counted(trials)) == 24, "exactly the study's total, over the four workers"
    assert sum(ran(outputs)) == 24, f"each trial was run by one worker: {ran(outputs)}"
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    by = {t.system_attrs.get(PROCESS_ATTR) for t in counted(trials)}
    assert len(by) >= 2, f"the trials were shared among the workers: {by}"
    assert sum(1 for t in trials if t.user_attrs.get("stacktune:baseline")) == 1, "one baseline, however many start"


def test_a_worker_killed_mid_trial_has_its_trial_run_again_by_the_others(postgres_url: str) -> None:
    arguments = ("--trials", "12", "--option", "delay=0.01", "--option", "examples=150", "--grace-period", "1")
    workers = start_workers(4, postgres_url, "killed", *arguments)
    victim = workers[0]
    deadline = time.monotonic() + 120
    running: list[optuna.trial.FrozenTrial] = []
    while not running:
        assert time.monotonic() < deadline, "the victim never started a trial"
        time.sleep(0.1)
        try:
            running = [
                t
                for t in stored(postgres_url, "killed")
                if t.state == optuna.trial.TrialState.RUNNING
                and str(t.system_attrs.get(PROCESS_ATTR, "")).endswith(f":{victim.pid}")
            ]
        except KeyError:
            continue  # the study is not created yet
    time.sleep(0.3)  # a few examples into its trial
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    outputs = finish(workers[1:])
    trials = stored(postgres_url, "killed")
    reclaimed = [t for t in trials if t.system_attrs.get(RECLAIMED_ATTR)]
    assert [t.number for t in reclaimed] == [running[0].number], "the killed worker's trial, and only it"
    assert reclaimed[0].state == optuna.trial.TrialState.FAIL
    again = [t for t in trials if t.user_attrs.get(REQUEUED_FROM_ATTR) == running[0].number]
    assert len(again) == 1 and again[0].params == running[0].params, "its configuration ran again, once"
    assert again[0].state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED), "run (maybe raced out)"
    assert len(counted(trials)) == 12, "no trial lost: the study still holds exactly its 12"
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    assert sum(ran(outputs)) == 12 - len(
        [t for t in counted(trials) if str(t.system_attrs.get(PROCESS_ATTR, "")).endswith(f":{victim.pid}")]
    )


def test_a_resumed_study_races_from_its_first_trial(postgres_url: str) -> None:
    finish(
        start_workers(2, postgres_url, "resumed", "--trials", "10", "--objective", "score", "--option", "examples=40")
    )
    again = create_study(study_name="resumed", storage=postgres_url, objectives=("score",), seed=0)
    again.optuna_study.enqueue_trial(BAD)
    again.optimize(ToyProgram(), toy_dataset(40), toy_metric, n_trials=1)
    first = again.trials[-1]
    assert first.configuration == BAD
    assert first.state == "pruned" and first.estimated_score is not None, "raced against the workers' best"
    assert first.examples_evaluated < 40


def test_four_workers_share_one_budget(postgres_url: str) -> None:
    arguments = ("--trials", "1000", "--budget-calls", "200", "--option", "delay=0.005")
    outputs = finish(start_workers(4, postgres_url, "budget", *arguments))
    assert all("call budget 200 spent" in out for out in outputs), outputs
    study = load_study("budget", storage=postgres_url)
    assert 200 <= study.spent.calls <= 200 + 4, "past the budget by at most one call per worker"
    assert sum(t.examples_evaluated for t in study.trials) == study.spent.calls, "every call spent is in a trial"
    assert Budget(calls=200).exhausted_by(study.spent) is not None


def test_optimize_with_workers_starts_them_and_shows_the_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/workers.db"
    result = subprocess.run(
        [sys.executable, "-m", "stacktune", "optimize", "toy", "--storage", storage, "--workers", "2", "--trials", "8"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started 2 workers" in result.stdout and "Pareto front" in result.stdout
    assert sum(ran([out for out in result.stdout.split("\n") if "ran " in out])) == 8
    assert len(counted(stored(storage, "toy"))) == 8


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, server: subprocess.Popen[str], timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited: {server.communicate()[1][-2000:]}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")


def test_many_workers_through_optunas_grpc_proxy_keep_exact_counts(postgres_url: str) -> None:
    pytest.importorskip("grpc", reason="stacktune[grpc] is not installed")
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "stacktune", "storage-proxy", postgres_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proxy)
        workers = start_workers(
            2,
            f"grpc://127.0.0.1:{port}",
            "proxied",
            "--trials",
            "6",
            "--shared-state",
            postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        )
        finish(workers)
    finally:
        proxy.terminate()
        proxy.communicate(timeout=30)
    trials = stored(postgres_url, "proxied")
    assert len(counted(trials)) == 6, "the claims are counted in the database, beside the proxy"


def test_a_storage_without_shared_counters_says_so(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("grpc", reason="stacktune[grpc] is not installed")
    from stacktune.shared import MemoryState, shared_state_for

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=free_port())  # none listens: never called
    with caplog.at_level("WARNING", logger="stacktune"):
        state = shared_state_for(proxy)
    assert isinstance(state, MemoryState)
    assert "count this process only; give shared_state='redis://...'" in caplog.text


def test_a_grpc_storage_needs_host_and_port() -> None:
    from stacktune import StacktuneError

    with pytest.raises(StacktuneError, match="grpc://host:port"):
        open_storage("grpc://nowhere")


def test_a_grpc_storage_where_no_proxy_answers_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("grpc", reason="stacktune[grpc] is not installed")
    from stacktune import StacktuneError
    from stacktune.study import create

    monkeypatch.setattr(create, "_PROXY_WAIT", 0.5)
    url = f"grpc://127.0.0.1:{free_port()}"
    with pytest.raises(StacktuneError, match=f"cannot open storage '{url}': no gRPC storage proxy answered"):
        open_storage(url)
