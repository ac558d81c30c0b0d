"""A study's counters in its shared state: what every process of the study agrees on.

- ``trials``: how many trials the study holds, claimed one at a time before each trial, so
  ``optimize(total_trials=n)`` runs exactly ``n`` in all, whatever the number of workers; a
  claim that yields no trial, and a dead process's reclaimed trial, give theirs back.
- ``spent_*``: what the study spent (calls, tokens, USD), which every worker's budget reads.
- ``first:<name>``: things exactly one process does (queueing a new study's baseline).
"""

from __future__ import annotations

import threading
import time

import optuna
from optuna.trial import FrozenTrial, TrialState

from stacktune.records import TrialRecord
from stacktune.shared import SharedState
from stacktune.study._heartbeat import RECLAIMED_ATTR
from stacktune.study.budget import Spent
from stacktune.usage import Usage

TRIALS = "trials"


def counts_as_a_trial(trial: FrozenTrial) -> bool:
    """A trial that counts toward the study's total: run or running, not rejected, not reclaimed."""
    if trial.state == TrialState.WAITING:
        return False
    if trial.state == TrialState.FAIL and trial.system_attrs.get(RECLAIMED_ATTR):
        return False
    record = TrialRecord.of(trial)
    return record is None or record.rejected_by is None


def study_scope(optuna_study: optuna.Study) -> str:
    """The scope of a study's counters: its id and name (a study deleted and made again starts afresh)."""
    return f"study:{optuna_study._study_id}:{optuna_study.study_name}"


class StudyLedger:
    """The counters of one study as one ``optimize`` call uses them.

    Spending is written as it is recorded when ``immediate`` (a budget must see every worker's
    calls at once), otherwise gathered and written every ``FLUSH_EVERY`` seconds and at the end
    of each trial: a worker that dies loses at most that much of the study's account.
    """

    FLUSH_EVERY = 1.0

    def __init__(self, state: SharedState, optuna_study: optuna.Study, *, immediate: bool) -> None:
        self.state = state
        self.scope = study_scope(optuna_study)
        self.immediate = immediate
        self._lock = threading.Lock()
        self._pending = Spent()
        self._flushed_at = time.monotonic()
        stored = optuna_study.get_trials(deepcopy=False)
        self.state.initialize(self.scope, TRIALS, sum(1 for t in stored if counts_as_a_trial(t)))

    # -- trials ----------------------------------------------------------------------------------------
    def claim(self, total: int | None) -> bool:
        """Count one more trial, unless the study would then hold more than ``total``."""
        if total is None:
            self.state.add(self.scope, {TRIALS: 1})
            return True
        return self.state.add_at_most(self.scope, TRIALS, 1, total)

    def release(self, n: int = 1) -> None:
        """Give back claims that yielded no trial (or trials reclaimed from a dead process)."""
        if n:
            self.state.add(self.scope, {TRIALS: -n})

    def trials(self) -> int:
        return int(self.state.values(self.scope).get(TRIALS, 0))

    def first(self, name: str) -> bool:
        """True for exactly one caller, over every process, for each ``name``."""
        return self.state.add_at_most(self.scope, f"first:{name}", 1, 1)

    # -- spending ---------------------------------------------------------------------------------------
    def record(self, usage: Usage) -> None:
        """A meter's listener: what one call spent."""
        spent = Spent.of(usage)
        if not (spent.calls or spent.tokens or spent.usd):
            return
        with self._lock:
            self._pending = self._pending + spent
            due = self.immediate or time.monotonic() - self._flushed_at >= self.FLUSH_EVERY
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what this process spent since the last flush."""
        with self._lock:
            pending, self._pending = self._pending, Spent()
            self._flushed_at = time.monotonic()
        if pending.calls or pending.tokens or pending.usd:
            self.state.add(
                self.scope, {"spent_calls": pending.calls, "spent_tokens": pending.tokens, "spent_usd": pending.usd}
            )

    def spent(self) -> Spent:
        """What the study spent, over every process (and this one's unwritten share)."""
        stored = _spent(self.state.values(self.scope))
        with self._lock:
            return stored + self._pending


def _spent(values: dict[str, float]) -> Spent:
    return Spent(
        calls=int(values.get("spent_calls", 0)),
        tokens=int(values.get("spent_tokens", 0)),
        usd=values.get("spent_usd", 0.0),
    )


def study_spent(state: SharedState, optuna_study: optuna.Study) -> Spent:
    """What a study spent over every process, as its shared state holds it."""
    return _spent(state.values(study_scope(optuna_study)))


__all__ = ["TRIALS", "StudyLedger", "counts_as_a_trial", "study_scope", "study_spent"]
