"""What stacktune keeps in an Optuna study, written in one place and read in one place.

A study's own description lives in study user attributes (:data:`ATTR_OBJECTIVES`,
:data:`ATTR_SPACE`, and :data:`ATTR_DATASET`: the dataset's fingerprint and a glimpse of its
first inputs). Each trial's record is ONE user attribute, :data:`ATTR_TRIAL`, a
:class:`TrialRecord` written once when the trial ends (every write is a storage
transaction): its configuration, the evaluation summary, the per-example scores, a glimpse
of its predictions, its failures and its fate. :meth:`TrialRecord.of` reads it back,
tolerating records of older versions (unknown fields are ignored).

For ``optuna-dashboard``, which shows a dict attribute as one JSON blob, a few more trial
user attributes are written beside the record (:data:`DASHBOARD_FIELDS`): the configuration
in words, and numbers its trial table can sort by.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stacktune.evaluation import PREDICTION_SAMPLE, EvaluationSummary, ExampleFailure
from stacktune.secrets import redact
from stacktune.texts import stored_text
from stacktune.variables import Primitive

ATTR_OBJECTIVES = "stacktune:objectives"
ATTR_SPACE = "stacktune:space"
ATTR_TRIAL = "stacktune"
#: The dataset a study searches on: its fingerprint and a sample of its inputs (:class:`DatasetSample`).
ATTR_DATASET = "stacktune:dataset"
#: On the trial that evaluates the program as the user wrote it (a study's first, by default).
BASELINE_ATTR = "stacktune:baseline"

#: How many example failures a trial's record keeps (the first ones, by example index).
MAX_RECORDED_FAILURES = 20

#: Characters kept of each example's input in the study's :class:`DatasetSample`.
INPUT_CHARS = 300

#: The trial user attributes written for optuna-dashboard beside the record, and what each holds.
DASHBOARD_FIELDS: dict[str, str] = {
    "configuration": "the configuration in words: chosen texts shown (shortened), not their keys",
    "examples_evaluated": "examples run (fewer than the dataset for a trial stopped early)",
    "calls": "LLM calls, cached answers included",
    "tokens": "input + output tokens",
    "cost_usd": "USD (0 for free or unpriced calls)",
    "failed_examples": "examples whose program or metric raised",
    "latency_s": "mean seconds per example (complete trials)",
}


class TrialRecord(BaseModel):
    """One trial as stored: what was tried, what it gave, and why it ended as it did."""

    model_config = ConfigDict(extra="ignore")

    configuration: dict[str, Primitive] = Field(default_factory=dict)
    evaluation: EvaluationSummary | None = None
    scores: list[float | None] = Field(
        default_factory=list, description="per example, dataset order; None: not evaluated"
    )
    predictions: list[str | None] = Field(
        default_factory=list,
        description=f"short texts of the predictions of the first {PREDICTION_SAMPLE} examples, dataset order",
    )
    partial: EvaluationSummary | None = Field(
        None, description="a trial stopped early: the examples it evaluated and what they cost"
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
        return _read(cls, trial.user_attrs.get(ATTR_TRIAL))

    def write(self, trial: optuna.Trial, *, configuration_text: str | None = None) -> None:
        """Store this record on a running trial, and the :data:`DASHBOARD_FIELDS` beside it."""
        trial.set_user_attr(ATTR_TRIAL, self.stored())
        for key, value in self.dashboard_fields(configuration_text).items():
            trial.set_user_attr(key, value)

    def stored(self) -> dict[str, Any]:
        """The JSON form kept in the trial's user attributes (unset fields left out, secrets masked)."""
        return redact(self.model_dump(mode="json", exclude_none=True))

    def dashboard_fields(self, configuration_text: str | None = None) -> dict[str, str | int | float]:
        """The flat attributes optuna-dashboard shows as sortable columns (numbers) and text."""
        fields: dict[str, str | int | float] = {}
        if configuration_text is not None:
            fields["configuration"] = configuration_text
        fields["examples_evaluated"] = self.examples_evaluated
        summary = self.evaluation or self.partial
        if summary is not None:
            fields.update(
                calls=summary.calls,
                tokens=summary.total_tokens,
                cost_usd=summary.cost_usd,
                failed_examples=summary.n_failures,
            )
        if self.evaluation is not None:
            fields["latency_s"] = self.evaluation.mean_latency
        return redact(fields)

    @property
    def spent(self) -> EvaluationSummary | None:
        """What the trial's examples cost: its evaluation, or what a stopped trial ran before it stopped."""
        return self.evaluation or self.partial

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


class DatasetSample(BaseModel):
    """The dataset a study searches on: its fingerprint, its size and a glimpse of its first inputs.

    Stored once per study (:data:`ATTR_DATASET`), so a report can show the inputs beside the
    predictions the trials kept for the same examples (the first ``PREDICTION_SAMPLE``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    fingerprint: str
    n_examples: int
    inputs: list[str] = Field(default_factory=list, description="the first examples, as short texts")

    @classmethod
    def of(cls, dataset: Sequence[Any]) -> DatasetSample:
        """The fingerprint, size and first inputs of a dataset."""
        inputs = [stored_text(dataset[i], INPUT_CHARS) for i in range(min(len(dataset), PREDICTION_SAMPLE))]
        return cls(fingerprint=dataset_fingerprint(dataset), n_examples=len(dataset), inputs=inputs)

    @classmethod
    def stored_in(cls, optuna_study: optuna.Study) -> DatasetSample | None:
        """The sample a study stored, or None (a study run before samples were stored)."""
        return _read(cls, optuna_study.user_attrs.get(ATTR_DATASET))


_Model = TypeVar("_Model", bound=BaseModel)


def _read(model: type[_Model], raw: object) -> _Model | None:
    """A stored attribute as ``model``, or None when it is absent or not one (another tool, another version)."""
    if not isinstance(raw, dict):
        return None
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


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
    "DASHBOARD_FIELDS",
    "INPUT_CHARS",
    "MAX_RECORDED_FAILURES",
    "DatasetSample",
    "TrialRecord",
    "dataset_fingerprint",
    "estimated_score",
]
