"""The proposer step of ``optimize(propose=...)``: once per study, stored, reused by every worker.

A study's categorical choices may never change, so its instruction candidates are written
once and kept in the study (:class:`~stacktune.proposals.Proposals`): the first process to
claim the ``proposals`` flag in the study's shared state asks the proposer; the others wait
for what it stores. A resumed study reads them back and never calls the proposer again.
What the proposer spent goes to the study's ledger as it is spent, like a trial's calls: the
budget counts it, and ``Study.spent`` and the report show it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import optuna

from stacktune.errors import StacktuneError
from stacktune.evaluation import Metric
from stacktune.proposals import (
    Bootstrap,
    BootstrappedDemos,
    Proposals,
    ProposesInstructions,
    SupportsBootstrappedDemos,
    TracesDemos,
    instruction_sites,
    propose_all,
)
from stacktune.protocol import Optimizable
from stacktune.records import ATTR_SPACE
from stacktune.shared import using
from stacktune.space import Space
from stacktune.study._ledger import StudyLedger
from stacktune.study.budget import Budget
from stacktune.usage import UsageMeter, metering

if TYPE_CHECKING:
    import pluggy

logger = logging.getLogger("stacktune")

#: Seconds between looks at the study while another process proposes.
POLL_EVERY = 0.2

_Stored = TypeVar("_Stored")


def _claim_or_wait(
    optuna_study: optuna.Study,
    ledger: StudyLedger,
    step: str,
    stored_in: Callable[[optuna.Study], _Stored | None],
    wait: float,
) -> _Stored | None:
    """What another process stored for ``step``, or None when this one does it.

    The first process to claim ``step`` in the study's shared state does it; the others poll the
    study for its result, and after ``wait`` seconds without one (that process died) do it themselves.
    """
    if ledger.first(step):
        return None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(POLL_EVERY)
        stored = stored_in(optuna_study)
        if stored is not None:
            return stored
    logger.warning(
        "study %s: nothing stored for %s %.0f s after another process began it; doing it here",
        optuna_study.study_name,
        step,
        wait,
    )
    return None


@contextmanager
def _spent_by_the_study(ledger: StudyLedger) -> Iterator[None]:
    """Every LLM call inside is metered into the study's ledger (the budget and ``study.spent`` count it)."""
    meter = UsageMeter()
    meter.subscribe(ledger.record)
    try:
        with metering(meter), using(ledger.state):
            yield
    finally:
        ledger.flush()  # what was spent is the study's, whatever happens next


def study_proposals(
    optuna_study: optuna.Study,
    program: Optimizable,
    dataset: Sequence[object],
    propose: ProposesInstructions | None,
    *,
    ledger: StudyLedger,
    budget: Budget | None,
    plugin_manager: pluggy.PluginManager | None,
    wait: float,
) -> Proposals | None:
    """The study's proposals: stored ones, else new ones (when ``propose`` is given), else None.

    Waits up to ``wait`` seconds for another process that claimed the proposing; after that
    (it died), this one proposes.
    """
    stored = Proposals.stored_in(optuna_study)
    if stored is not None:
        if propose is not None:
            logger.info("study %s: using its stored proposals, not the proposer", optuna_study.study_name)
        return stored
    if propose is None:
        return None
    if not callable(getattr(propose, "propose", None)):
        raise TypeError(f"propose= must be a stacktune.Proposer (or have propose(site, examples)), got {propose!r}")
    if ATTR_SPACE in optuna_study.user_attrs:
        raise StacktuneError(
            f"study {optuna_study.study_name!r} was run without proposals: new instruction choices would change "
            f"its space, and a study's choices may never change; propose in a new study (another study name)"
        )
    sites = instruction_sites(program)
    stored = _claim_or_wait(optuna_study, ledger, "proposals", Proposals.stored_in, wait)
    if stored is not None:
        return stored

    def stop() -> str | None:
        return budget.exhausted_by(ledger.spent()) if budget is not None else None

    with _spent_by_the_study(ledger):
        proposals = propose_all(sites, dataset, propose, plugin_manager=plugin_manager, stop=stop)
    proposals.store(optuna_study)
    logger.info(
        "study %s: %d instruction candidates proposed for %d sites (%d calls)",
        optuna_study.study_name,
        sum(len(s.candidates) for s in proposals.sites.values()),
        len(proposals.sites),
        proposals.usage.calls,
    )
    return proposals


def with_proposals(program: Optimizable, space: Space | None, proposals: Proposals) -> tuple[Optimizable, Space]:
    """The program whose instruction knobs offer the proposals, and its space (or ``space`` with those knobs)."""
    candidates = proposals.candidates
    if not candidates:
        return program, space if space is not None else program.extract_variables()
    sites = {site.name: site for site in instruction_sites(program)}
    for name, site in proposals.sites.items():
        if name not in sites:
            raise StacktuneError(
                f"the study's proposals are for instruction site {name!r}, which this program does not have "
                f"(its sites: {sorted(sites)}): the study was run on another program; use a new study name"
            )
        if sites[name].current != site.current:
            logger.warning(
                "instruction site %s: the program's text changed since the study proposed; "
                "its text of then stays a choice only if it is still the current one",
                name,
            )
    proposed = program.with_instruction_candidates(candidates)  # type: ignore[attr-defined]
    own = proposed.extract_variables()
    if space is None:
        return proposed, own
    for name in candidates:
        if name not in own:
            raise StacktuneError(f"the adapter took candidates for {name!r} but its space has no such variable")
        space = space.replace(own[name]) if name in space else space.add(own[name])
    return proposed, space


def study_bootstrap(
    optuna_study: optuna.Study,
    program: Optimizable,
    dataset: Sequence[object],
    metric: Metric,
    bootstrap: Bootstrap | None,
    *,
    ledger: StudyLedger,
    wait: float,
) -> BootstrappedDemos | None:
    """The study's bootstrapped demos: stored ones, else new ones (when ``bootstrap`` is given), else None.

    Like the proposals: one process runs the program on the examples, the others wait for what
    it stores; a resumed study never runs them again.
    """
    stored = BootstrappedDemos.stored_in(optuna_study)
    if stored is not None or bootstrap is None:
        return stored
    if ATTR_SPACE in optuna_study.user_attrs:
        raise StacktuneError(
            f"study {optuna_study.study_name!r} was run without bootstrapped demos: new demo choices would change "
            f"its space, and a study's choices may never change; bootstrap in a new study (another study name)"
        )
    if not isinstance(program, SupportsBootstrappedDemos):
        raise TypeError(
            f"optimize(bootstrap=...) needs an adapter that takes demos; {type(program).__name__} has no "
            f"with_bootstrapped_demos() (stacktune.proposals.SupportsBootstrappedDemos)"
        )
    stored = _claim_or_wait(optuna_study, ledger, "bootstrap", BootstrappedDemos.stored_in, wait)
    if stored is not None:
        return stored
    tried = bootstrap.pick(len(dataset))
    chosen = [dataset[i] for i in tried]
    traces: list[object] | None = None
    with _spent_by_the_study(ledger):
        if isinstance(program, TracesDemos):
            evaluation, traces = program.evaluate_with_traces(chosen, metric)
        else:
            evaluation = program.evaluate(chosen, metric)
    kept = [k for k, score in enumerate(evaluation.scores) if score >= bootstrap.threshold]
    if traces is not None:
        kept = [k for k in kept if traces[k] is not None]
        examples: list[object] = [traces[k] for k in kept]
        if not _jsonable(examples):
            raise StacktuneError(
                f"{type(program).__name__}.evaluate_with_traces() returned traces JSON cannot hold; a study "
                f"stores its bootstrapped demos, so each trace must be plain JSON (dicts, lists, strings, numbers)"
            )
    else:
        examples = [chosen[k] for k in kept]
    demos = BootstrappedDemos(
        tried=tuple(tried),
        passed=tuple(tried[k] for k in kept),
        max_demos=bootstrap.max_demos,
        usage=evaluation.usage.without_latencies(),
        examples=examples if traces is not None or _jsonable(examples) else None,
        traced=traces is not None,
    )
    demos.store(optuna_study)
    logger.info("study %s: %d of %d examples passed", optuna_study.study_name, len(demos.passed), len(tried))
    return demos


def _jsonable(value: object) -> bool:
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False


def with_bootstrapped(program: Optimizable, dataset: Sequence[object], demos: BootstrappedDemos) -> Optimizable:
    """The program whose demo knobs offer the bootstrapped demos (the same program when none passed)."""
    if not demos.passed:
        return program
    if max(demos.passed) >= len(dataset):
        raise StacktuneError(
            f"the study's bootstrapped demos are examples {list(demos.passed)} of its dataset, which has "
            f"{len(dataset)}: it was run on another dataset; use a new study name"
        )
    if not isinstance(program, SupportsBootstrappedDemos):
        raise TypeError(f"the study holds bootstrapped demos, but {type(program).__name__} takes no demos")
    if demos.traced:
        return program.with_bootstrapped_demos(demos.examples or [], demos.max_demos)
    return program.with_bootstrapped_demos([dataset[i] for i in demos.passed], demos.max_demos)


__all__ = ["POLL_EVERY", "study_bootstrap", "study_proposals", "with_bootstrapped", "with_proposals"]
