"""DSPy's own idiom: stacktune as a teleprompter.

DSPy users optimize a program by handing it to an optimizer's ``compile`` and getting a
program back. :class:`Tune` does the same with a stacktune study underneath:
``Tune(metric, n_trials=30).compile(program, trainset=train, valset=val)`` returns the
chosen configuration as a plain ``dspy.Module`` and leaves the study on ``tuner.study``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dspy
from dspy.teleprompt import Teleprompter

from stacktune import Metric, Study, TrialResult, Verification, create_study
from stacktune.objectives import ObjectiveLike
from stacktune.study.create import Storage
from stacktune.study.idiom import STUDY_OPTIONS, check_options, keyword_options, pick, search_and_choose
from stacktune_dspy._adapter import DSPyAdapter
from stacktune_dspy._candidates import Candidates

#: Options of ``DSPyAdapter`` that ``Tune`` passes on (beside ``create_study``'s and ``Study.optimize``'s).
#: The adapter's ``trainset`` (its demo pool) is left out: ``compile``'s trainset is what the search runs on.
ADAPTER_OPTIONS = keyword_options(DSPyAdapter.__init__, skip=("trainset",))


class Tune(Teleprompter):  # type: ignore[misc]  # DSPy is untyped here
    """A DSPy teleprompter that tunes every knob of a program with a stacktune study.

    ``metric`` is a DSPy metric (``metric(example, prediction, trace=None)``). The study is
    created (or continued, with a ``study_name`` already in ``storage``) on ``objectives``
    and runs ``n_trials`` trials on ``compile``'s trainset. Any other keyword goes where it
    belongs: ``create_study``'s (``sampler``, ``pruner``, ``search``, ``seed``...),
    ``Study.optimize``'s (``timeout``, ``budget``, ``n_jobs``, ``max_concurrency``,
    ``baseline``, ``bootstrap``...) or :class:`DSPyAdapter`'s (``lm``, ``lms``, ``instructions``,
    ``instruction_proposer``, ``demo_pool``, ``demo_sets``, ranges...). ``candidates``
    (from :func:`~stacktune_dspy.candidates_from_programs`, e.g. what MIPROv2 or
    BootstrapFewShot found) adds instruction and demo-set candidates to those options.

    After ``compile``: :attr:`study` is the study, :attr:`chosen` the trial returned,
    :attr:`verifications` its held-out figures (when a valset was given).
    """

    def __init__(
        self,
        metric: Metric,
        *,
        objectives: Sequence[ObjectiveLike] | ObjectiveLike = ("score",),
        n_trials: int | None = 20,
        storage: Storage | None = None,
        study_name: str | None = None,
        candidates: Candidates | None = None,
        verify_top: int = 1,
        **options: Any,
    ) -> None:
        super().__init__()
        if not callable(metric):
            raise TypeError(f"Tune needs a metric function metric(example, prediction), got {metric!r}")
        try:
            check_options(options, ADAPTER_OPTIONS, caller="Tune", adapter="DSPyAdapter")
        except TypeError as exc:
            hint = " (the demo pool is demo_pool={'*': [...]}; compile's trainset is searched on)"
            raise TypeError(f"{exc}{hint * ('trainset' in options)}") from None
        if candidates is not None and not isinstance(candidates, Candidates):
            raise TypeError(f"candidates must come from stacktune_dspy.candidates_from_programs, got {candidates!r}")
        if isinstance(verify_top, bool) or not isinstance(verify_top, int) or verify_top < 1:
            raise ValueError(f"verify_top must be an int >= 1, got {verify_top!r}")
        self.metric = metric
        self.objectives = objectives
        self.n_trials = n_trials
        self.storage = storage
        self.study_name = study_name
        self.candidates = candidates
        self.verify_top = verify_top
        self.options = dict(options)
        self.study: Study | None = None
        self.program: DSPyAdapter | None = None
        self.chosen: TrialResult | None = None
        self.verifications: list[Verification] = []

    def compile(
        self,
        student: dspy.Module,
        *,
        trainset: Sequence[Any],
        teacher: dspy.Module | None = None,
        valset: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> dspy.Module:
        """Tune ``student`` on ``trainset`` and return the chosen configuration as a new ``dspy.Module``.

        ``student`` is never changed. With a ``valset``, the best trials (``verify_top`` of
        them; the Pareto front with several objectives) are evaluated again on it
        (``study.verify``) and the one with the best held-out first objective is returned;
        without, the search's best. Run the result under :func:`stacktune_dspy.context` to
        use the DSPy adapter (chat/JSON/XML) it was tuned with.
        """
        if teacher is not None:
            raise ValueError(
                "Tune does not use a teacher program: pass bootstrap=stacktune.Bootstrap(...) to Tune (the student's "
                "own traces become demos), or bootstrap demos first (BootstrapFewShot) and tune that"
            )
        if kwargs:
            raise TypeError(f"Tune.compile got unknown argument(s) {sorted(kwargs)}; give options to Tune(...)")
        program = DSPyAdapter(student, **self._adapter_options())
        self.program = program
        study = create_study(self.study_name, self.storage, self.objectives, **pick(self.options, STUDY_OPTIONS))
        self.study = study
        self.chosen, self.verifications = search_and_choose(
            study,
            program,
            list(trainset),
            self.metric,
            n_trials=self.n_trials,
            options=self.options,
            valset=list(valset) if valset else None,
            verify_top=self.verify_top,
        )
        native = self.chosen.export(program)
        assert isinstance(native, dspy.Module)  # DSPyAdapter.to_native always returns one
        native._compiled = True  # as DSPy's own optimizers mark their output
        return native

    # -- helpers --------------------------------------------------------------------
    def _adapter_options(self) -> dict[str, Any]:
        options = pick(self.options, ADAPTER_OPTIONS)
        if self.candidates is not None:
            options["instructions"] = _merged(options.get("instructions"), self.candidates.instructions)
            options["demo_sets"] = {**self.candidates.demo_sets, **dict(options.get("demo_sets") or {})}
        return options


def _merged(given: Mapping[str, Sequence[str]] | None, found: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Instruction candidates per predictor path: the caller's first, then the optimizers' finds not yet there."""
    merged = {path: list(texts) for path, texts in (given or {}).items()}
    for path, texts in found.items():
        into = merged.setdefault(path, [])
        into.extend(t for t in texts if t not in into)
    return merged


__all__ = ["ADAPTER_OPTIONS", "Tune"]
