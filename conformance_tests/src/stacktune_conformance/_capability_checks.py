"""Checks on optional capabilities: skipped, with the reason, when the adapter lacks them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from stacktune import (
    Categorical,
    Evaluation,
    Int,
    SupportsAsyncEvaluate,
    SupportsExport,
    SupportsExportCheck,
    SupportsInstructionProposals,
    check_export,
)
from stacktune.proposals import SupportsBootstrappedDemos, TracesDemos
from stacktune_conformance._base import SuiteBase
from stacktune_conformance._recording import ConformanceStop, RecordingMetric, ResultLog, same_scores
from stacktune_conformance.strategies import configurations


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class CapabilityChecks(SuiteBase):
    def test_export_to_native(self, request: pytest.FixtureRequest, optimizable: Any) -> None:
        """If the adapter implements ``stacktune.SupportsExport``, ``to_native()`` gives a native object
        for the original and for every applied configuration, and exporting changes nothing."""
        if not isinstance(optimizable, SupportsExport):
            pytest.skip(
                f"{type(optimizable).__qualname__} does not implement stacktune.SupportsExport "
                f"(no to_native method): export not checked"
            )
        original: Any = optimizable
        space = self.space_of(original)

        def check(configuration: dict[str, Any]) -> None:
            for target in (original, original.apply_configuration(configuration)):
                before = self.space_of(target).to_json()
                assert target.to_native() is not None, f"to_native() returned None for {configuration}"
                assert self.space_of(target).to_json() == before, "to_native() changed the Optimizable"

        self.for_all(request, configurations(space), check)

    def test_export_check(self, request: pytest.FixtureRequest, optimizable: Any, dataset: Sequence[Any]) -> None:
        """If the adapter exports and implements ``stacktune.SupportsExportCheck``, the native object of
        every applied configuration sends the model what the tuned Optimizable sends (messages and
        parameters) and, at temperature 0, gets the same answers (``stacktune.check_export``)."""
        if not isinstance(optimizable, SupportsExport) or not isinstance(optimizable, SupportsExportCheck):
            pytest.skip(
                f"{type(optimizable).__qualname__} does not implement both stacktune.SupportsExport and "
                f"stacktune.SupportsExportCheck (to_native and model_calls): the export check not run"
            )
        original: Any = optimizable
        examples = list(dataset[:2])

        def check(configuration: dict[str, Any]) -> None:
            tuned = original.apply_configuration(configuration)
            native = tuned.to_native()
            if native is not None:  # None is test_export_to_native's failure
                check_export(tuned, native, examples, configuration)

        self.for_all(request, configurations(self.space_of(original)), check)

    def test_instruction_proposals(self, optimizable: Any) -> None:
        """If the adapter implements ``stacktune.SupportsInstructionProposals``, each site it describes takes a
        proposed text: the knob of the site's name offers it next to the current text (the default), applying
        it works, and the original Optimizable does not change."""
        if not isinstance(optimizable, SupportsInstructionProposals):
            pytest.skip(
                f"{type(optimizable).__qualname__} does not implement stacktune.SupportsInstructionProposals "
                f"(no instruction_sites/with_instruction_candidates): proposals not checked"
            )
        sites = list(optimizable.instruction_sites())
        if not sites:
            pytest.skip(f"{type(optimizable).__qualname__} describes no instruction site")
        before = self.space_of(optimizable).to_json()
        names = [site.name for site in sites]
        assert len(set(names)) == len(names), f"instruction site names repeat: {names}"
        texts = {
            site.name: [" ".join(["Proposed by the conformance suite:", *("{" + p + "}" for p in site.placeholders)])]
            for site in sites
        }
        proposed = optimizable.with_instruction_candidates(texts)
        space = self.space_of(proposed)
        for site in sites:
            assert site.name in space, f"no variable {site.name!r} after candidates for it"
            variable = space[site.name]
            assert isinstance(variable, Categorical), f"{site.name!r} is a {type(variable).__name__}"
            choices = list(variable.choices.values())
            assert texts[site.name][0] in choices, f"{site.name!r} does not offer the proposed text"
            default = variable.resolve(variable.default)
            assert default == site.current, f"{site.name!r}: the default is {default!r}, not the current text"
            proposed.apply_configuration({site.name: variable.key_for(texts[site.name][0])})
        assert self.space_of(optimizable).to_json() == before, "with_instruction_candidates changed the original"

    def test_bootstrapped_demos(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """If the adapter implements ``stacktune.proposals.SupportsBootstrappedDemos``, it takes demos (its
        traces when it is a ``TracesDemos``: one per example, plain JSON, with the same scores as ``evaluate``):
        the same demos always make the same space, every variable of the original stays, the program at
        its defaults scores as the original, showing the most demos works, and the original does not change."""
        if not isinstance(optimizable, SupportsBootstrappedDemos):
            pytest.skip(
                f"{type(optimizable).__qualname__} does not implement stacktune.proposals.SupportsBootstrappedDemos "
                f"(no with_bootstrapped_demos method): bootstrapped demos not checked"
            )
        before = self.space_of(optimizable).to_json()
        original = self.scores_of(optimizable, dataset, metric)
        demos: list[Any] = list(dataset)
        if isinstance(optimizable, TracesDemos):
            evaluation, traces = optimizable.evaluate_with_traces(dataset, RecordingMetric(metric))
            assert isinstance(evaluation, Evaluation), f"evaluate_with_traces returned {type(evaluation).__qualname__}"
            assert same_scores(evaluation.scores, original), f"traced scores {evaluation.scores} != {original}"
            assert len(traces) == len(dataset), f"{len(traces)} traces for {len(dataset)} examples"
            for index, trace in enumerate(traces):
                assert trace is None or json.loads(json.dumps(trace)) == trace, f"trace #{index} is not plain JSON"
            demos = [trace for trace in traces if trace is not None]
            if not demos:
                pytest.skip(f"{type(optimizable).__qualname__} traced none of the examples: no demos to offer")
        demoed = optimizable.with_bootstrapped_demos(demos, 2)
        space = self.space_of(demoed)
        assert space.to_json() == self.space_of(optimizable.with_bootstrapped_demos(demos, 2)).to_json(), (
            "the same demos made another space: workers and a resumed study would disagree"
        )
        missing = set(self.space_of(optimizable).names) - set(space.names)
        assert not missing, f"with_bootstrapped_demos dropped variables {sorted(missing)}"
        at_defaults = self.scores_of(demoed.apply_configuration(space.defaults()), dataset, metric)
        assert same_scores(at_defaults, original), f"at its defaults the program scores {at_defaults}, not {original}"
        counts = [v for v in space.variables if v.name.endswith("n_demos") and isinstance(v, Int)]
        if counts:
            most = space.fix(**{v.name: v.high for v in counts}).defaults()
            shown = self.scores_of(demoed.apply_configuration(most), dataset, metric)
            assert len(shown) == len(dataset), "showing the most demos did not score every example"
        assert self.space_of(optimizable).to_json() == before, "with_bootstrapped_demos changed the original"

    def test_async_evaluate_matches_sync(
        self, optimizable: Any, dataset: Sequence[Any], metric: Callable[[Any, Any], Any]
    ) -> None:
        """If the adapter implements ``stacktune.SupportsAsyncEvaluate``, ``aevaluate`` gives the same
        per-example scores as ``evaluate``, one ``on_result`` per example, and lets an exception from
        ``on_result`` propagate."""
        if not isinstance(optimizable, SupportsAsyncEvaluate):
            pytest.skip(
                f"{type(optimizable).__qualname__} does not implement stacktune.SupportsAsyncEvaluate "
                f"(no aevaluate method): async evaluation not checked"
            )
        sequential = self.scores_of(optimizable, dataset, metric)
        log = ResultLog()
        evaluation = asyncio.run(_wait(optimizable.aevaluate(dataset, RecordingMetric(metric), on_result=log)))
        assert isinstance(evaluation, Evaluation), f"aevaluate returned {type(evaluation).__qualname__}"
        assert same_scores(evaluation.scores, sequential), f"aevaluate {evaluation.scores} != evaluate {sequential}"
        assert evaluation.is_consistent(), "score must be the mean of the per-example scores"
        assert sorted(log.indices) == list(range(len(dataset))), f"on_result indices: {log.indices}"
        stopping = ResultLog(raise_on_call=1)
        with pytest.raises(ConformanceStop):
            asyncio.run(_wait(optimizable.aevaluate(dataset, RecordingMetric(metric), on_result=stopping)))
        assert len(stopping.results) == 1, f"on_result was called again after it raised: {stopping.results}"
