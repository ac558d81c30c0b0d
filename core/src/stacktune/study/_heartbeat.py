"""Heartbeats for running trials, and reclaiming the trials of processes that died.

Optuna's own heartbeat covers ``study.optimize`` only, not ask/tell. Each ``optimize`` call
here beats for its running trials (a trial system attribute, every ``interval`` seconds);
any process working on the study marks a RUNNING trial whose beat is older than the grace
period as failed and queues its configuration again (``enqueue_trial``), so a trial whose
worker was killed (``kill -9``, a lost machine) is neither lost nor run twice: only the
process whose state change wins re-queues it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from stacktune.records import ATTR_TRIAL, TrialRecord

logger = logging.getLogger("stacktune")

HEARTBEAT_ATTR = "stacktune:heartbeat"
REQUEUED_FROM_ATTR = "stacktune:requeued_from"
#: Which process runs a trial (``host:pid``): for operators, and for tests that kill that process.
PROCESS_ATTR = "stacktune:process"
#: On a trial reclaimed from a dead process: it does not count toward a study's trials (its configuration runs again).
RECLAIMED_ATTR = "stacktune:reclaimed"


class Heartbeat:
    """Beats for this process's running trials on a daemon thread, until closed."""

    def __init__(self, storage: optuna.storages.BaseStorage, interval: float) -> None:
        self.storage = storage
        self.interval = interval
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stacktune-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def add(self, trial_id: int) -> None:
        self.storage.set_trial_system_attr(trial_id, PROCESS_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        self._beat(trial_id)
        with self._lock:
            self._trials.add(trial_id)

    def beats_for(self, trial_id: int) -> bool:
        """Whether this process runs the trial."""
        with self._lock:
            return trial_id in self._trials

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._trials.discard(trial_id)

    def _beat(self, trial_id: int) -> None:
        try:
            self.storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except (UpdateFinishedTrialError, KeyError):
            self.remove(trial_id)  # told (or reclaimed) meanwhile

    def _run(self) -> None:
        while not self._closed.wait(self.interval):
            with self._lock:
                trials = list(self._trials)
            for trial_id in trials:
                try:
                    self._beat(trial_id)
                except Exception as exc:  # noqa: BLE001 - a storage hiccup must not end the beating
                    logger.warning("could not record the heartbeat of a running trial: %s: %s", type(exc).__name__, exc)


def _last_sign_of_life(trial: FrozenTrial) -> float | None:
    beat = trial.system_attrs.get(HEARTBEAT_ATTR)
    if isinstance(beat, (int, float)):
        return float(beat)
    return trial.datetime_start.timestamp() if trial.datetime_start is not None else None


def reclaim_stale_trials(optuna_study: optuna.Study, grace_period: float) -> list[int]:
    """Fail the RUNNING trials silent for more than ``grace_period`` seconds and queue their configurations.

    Returns the numbers of the trials this process reclaimed (another process may win some).
    """
    now = time.time()
    storage = optuna_study._storage
    reclaimed: list[int] = []
    for trial in optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = _last_sign_of_life(trial)
        if last is None or now - last <= grace_period:
            continue
        record = TrialRecord.of(trial) or TrialRecord(configuration=dict(trial.params))
        note = (
            f"reclaimed: no heartbeat for {now - last:.0f}s (its process stopped); its configuration was queued again"
        )
        try:
            storage.set_trial_user_attr(trial._trial_id, ATTR_TRIAL, record.model_copy(update={"error": note}).stored())
            storage.set_trial_system_attr(trial._trial_id, RECLAIMED_ATTR, True)
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # finished meanwhile, or another process reclaimed it first
        if trial.params:
            optuna_study.enqueue_trial(trial.params, user_attrs={REQUEUED_FROM_ATTR: trial.number})
        logger.warning(
            "trial %d of study %s had no heartbeat for %.0fs: marked failed, its configuration queued again",
            trial.number,
            optuna_study.study_name,
            now - last,
        )
        reclaimed.append(trial.number)
    return reclaimed


__all__ = [
    "HEARTBEAT_ATTR",
    "PROCESS_ATTR",
    "RECLAIMED_ATTR",
    "REQUEUED_FROM_ATTR",
    "Heartbeat",
    "reclaim_stale_trials",
]
