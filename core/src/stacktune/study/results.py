"""Trials as stacktune users see them: configuration, objective values, evaluation, fate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from stacktune.evaluation import EvaluationSummary, ExampleFailure
from stacktune.exportcheck import check_export
from stacktune.plugins import optimizable
from stacktune.protocol import Optimizable, SupportsExport
from stacktune.records import BASELINE_ATTR, TrialRecord


@dataclass(frozen=True)
class TrialResult:
    """One trial: its configuration, objective values, evaluation summary and fate.

    ``evaluation`` is None for a trial that did not finish its evaluation (pruned, raced out,
    failed): ``partial`` then says what it evaluated and spent before it stopped;
    ``estimated_score`` (one objective) or ``estimated_values`` (several) is set for a trial the
    default search raced out. ``predictions`` are short texts of a complete trial's predictions
    for the first examples of the dataset.
    """

    number: int
    state: str
    configuration: dict[str, Any]
    values: dict[str, float]
    evaluation: EvaluationSummary | None = None
    scores: tuple[float | None, ...] = ()
    predictions: tuple[str | None, ...] = ()
    partial: EvaluationSummary | None = None
    failures: tuple[ExampleFailure, ...] = ()
    error: str | None = None
    rejected_by: str | None = None
    examples_evaluated: int = 0
    examples_saved: int = 0
    duration_s: float | None = None
    estimated_score: float | None = None
    estimated_values: dict[str, float] | None = None
    is_baseline: bool = False
    #: The instruction candidates the study's proposer wrote (by site): what its configuration may choose.
    instruction_candidates: dict[str, list[str]] | None = None
    #: The demos the study bootstrapped (``optimize(bootstrap=...)``), when JSON could hold them.
    bootstrapped_demos: tuple[list[Any], int] | None = None

    @property
    def raced_out(self) -> bool:
        """The default search stopped this trial early (its estimate is kept)."""
        return self.estimated_score is not None or self.estimated_values is not None

    @classmethod
    def from_frozen(
        cls,
        trial: FrozenTrial,
        objective_names: Sequence[str],
        *,
        instruction_candidates: dict[str, list[str]] | None = None,
        bootstrapped_demos: tuple[list[Any], int] | None = None,
    ) -> TrialResult:
        """A stored Optuna trial as stacktune reports it, from its record (or its params when it has none)."""
        record = TrialRecord.of(trial) or TrialRecord(configuration=dict(trial.params))
        values = dict(zip(objective_names, trial.values, strict=False)) if trial.values else {}
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        return cls(
            number=trial.number,
            state=trial.state.name.lower(),
            configuration=dict(record.configuration or trial.params),
            values=values,
            evaluation=record.evaluation,
            scores=tuple(record.scores),
            predictions=tuple(record.predictions),
            partial=record.partial,
            failures=tuple(record.failures),
            error=record.error or record.rejected_by,
            rejected_by=record.rejected_by,
            examples_evaluated=record.examples_evaluated,
            examples_saved=record.examples_saved,
            estimated_score=record.estimated_score if trial.state == TrialState.PRUNED else None,
            estimated_values=record.estimated_values if trial.state == TrialState.PRUNED else None,
            duration_s=duration,
            is_baseline=bool(trial.user_attrs.get(BASELINE_ATTR)),
            instruction_candidates=instruction_candidates or None,
            bootstrapped_demos=bootstrapped_demos,
        )

    @property
    def spent(self) -> EvaluationSummary | None:
        """What the trial's examples cost: its evaluation, or what it ran before it stopped."""
        return self.evaluation or self.partial

    def apply_to(self, target: object) -> Optimizable:
        """The target with this trial's configuration applied (the target stays unchanged).

        A study that proposed instructions gives its candidates to the adapter first, so a
        configuration that chose a proposed text applies.
        """
        program = optimizable(target)
        if self.bootstrapped_demos is not None:
            demos, max_demos = self.bootstrapped_demos
            program = program.with_bootstrapped_demos(demos, max_demos)  # type: ignore[attr-defined]
        if self.instruction_candidates:
            program = program.with_instruction_candidates(self.instruction_candidates)  # type: ignore[attr-defined]
        return program.apply_configuration(self.configuration)

    def export(self, target: object, *, check: bool = False, examples: Sequence[Any] = ()) -> object:
        """A native object of the target's framework, when the adapter can export one.

        With ``check``, ``examples`` run through both the tuned program and the native object
        and what was sent to the model (messages, parameters) and, at temperature 0, what came
        back must agree, else :class:`~stacktune.ExportMismatch` names the knob that did not
        carry over (see :mod:`stacktune.exportcheck`).
        """
        applied = self.apply_to(target)
        if not isinstance(applied, SupportsExport):
            if check:
                raise TypeError(f"{type(applied).__name__} has no native object to check (no to_native)")
            return applied
        native = applied.to_native()
        if check:
            check_export(applied, native, examples, self.configuration)
        return native


__all__ = ["TrialResult"]
