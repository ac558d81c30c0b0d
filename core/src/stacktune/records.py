"""What stacktune keeps in an Optuna study, written in one place and read in one place.

A study's own description lives in study user attributes (:data:`ATTR_OBJECTIVES`,
:data:`ATTR_SPACE`). Each trial's record is ONE user attribute, :data:`ATTR_TRIAL`, a
:class:`TrialRecord` written once when the trial ends (every write is a storage
transaction): its configuration, the evaluation summary, the per-example scores, its
failures and its fate. ``optuna-dashboard`` shows it as is; :meth:`TrialRecord.of` reads
it back, tolerating records of older versions (unknown fields are ignored).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stacktune.evaluation import EvaluationSummary, ExampleFailure
from stacktune.variables import Primitive

ATTR_OBJECTIVES = "stacktune:objectives"
ATTR_SPACE = "stacktune:space"
ATTR_TRIAL = "stacktune"
#: The fingerprint of the dataset a study searches on (``stacktune.study.dataset_fingerprint``).
ATTR_DATASET = "stacktune:dataset"
#: On the trial that evaluates the program as the user wrote it (a study's first, by default).
BASELINE_ATTR = "stacktune:baseline"

#: How many example failures a trial's record keeps (the first ones, by example index).
MAX_RECORDED_FAILURES = 20


class TrialRecord(BaseModel):
    """One trial as stored: what was tried, what it gave, and why it ended as it did."""

    model_config = ConfigDict(extra="ignore")

    configuration: dict[str, Primitive] = Field(default_factory=dict)
    evaluation: EvaluationSummary | None = None
    scores: list[float | None] = Field(
        default_factory=list, description="per example, dataset order; None: not evaluated"
    )
    failures: list[ExampleFailure] = Field(default_factory=list)
    examples_evaluated: int = 0
    examples_saved: int = 0
    error: str | None = None
    warning: str | None = Field(None, description="a complete trial with many failed examples says so here")
    rejected_by: str | None = Field(None, description="the constraint a sampled configuration broke")
    dataset: str | None = Field(None, description="the fingerprint of the dataset the trial was evaluated on")
    example_values: dict[str, list[float]] = Field(
        default_factory=dict, description="with several objectives: each one's per-example values (score: scores)"
    )
    estimated_values: dict[str, float] | None = Field(
        None, description="a trial the race on several objectives stopped: its estimated objective values"
    )
    estimated_score: float | None = Field(
        None,
        description="a trial the race stopped: its estimated mean score "
        "over the whole dataset (what the sampler learns)",
    )

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord | None:
        """The record of a stored trial, or None for a trial stacktune did not write (or cannot read)."""
        raw = trial.user_attrs.get(ATTR_TRIAL)
        if not isinstance(raw, dict):
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError:
            return None

    def write(self, trial: optuna.Trial) -> None:
        """Store this record on a running trial (one storage write)."""
        trial.set_user_attr(ATTR_TRIAL, self.stored())

    def stored(self) -> dict[str, Any]:
        """The JSON form kept in the trial's user attributes (unset fields left out, to keep storage small)."""
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def raced_out(self) -> bool:
        """True for a trial the race stopped: it has an estimated score rather than a full evaluation."""
        return self.estimated_score is not None or self.estimated_values is not None


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def dataset_fingerprint(dataset: Sequence[Any]) -> str:
    """A short, stable hash of a dataset's examples: their count and their JSON (repr for other objects).

    Memory addresses in reprs are left out, so the same examples give the same fingerprint
    in every process.
    """
    digest = hashlib.sha256()
    for example in dataset:
        text = json.dumps(example, sort_keys=True, default=lambda value: _ADDRESS.sub("", repr(value)))
        digest.update(text.encode())
        digest.update(b"\n")
    return f"{len(dataset)}:{digest.hexdigest()[:16]}"


def estimated_score(trial: FrozenTrial) -> float | None:
    """A raced-out trial's estimated final score, or None for any other trial."""
    if trial.state != TrialState.PRUNED:
        return None
    record = TrialRecord.of(trial)
    return record.estimated_score if record is not None else None


__all__ = [
    "ATTR_DATASET",
    "ATTR_OBJECTIVES",
    "ATTR_SPACE",
    "ATTR_TRIAL",
    "BASELINE_ATTR",
    "MAX_RECORDED_FAILURES",
    "TrialRecord",
    "dataset_fingerprint",
    "estimated_score",
]
