"""Proof that the suite catches bad adapters: each broken adapter fails on the right test.

Every case runs the whole suite with pytester against one adapter from broken_adapters.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktune_conformance import OptimizableTests

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
N_TESTS = len(OptimizableTests.standard_tests())
OPTIONAL = (
    "test_export_to_native",
    "test_export_check",
    "test_async_evaluate_matches_sync",
    "test_failing_target_counts_as_failure",
    "test_failed_calls_are_counted_and_never_hang",
    "test_instruction_proposals",
    "test_bootstrapped_demos",
)
# No toy here talks to a server: the fault-server check (an ``at_fault_server`` fixture) always skips.
NO_SERVER = 1
# No toy describes instruction sites (the real adapters' suites check proposals): that check always skips.
NO_PROPOSALS = 1
# Only CompleteToy and the toys made from it take bootstrapped demos: the others skip that check.
NO_DEMOS = 1

from suite_template import suite_module  # noqa: E402

FAILING_EXAMPLE = """
    @pytest.fixture
    def failing_example(self):
        return "not a difficulty"
"""


@pytest.fixture
def run_suite(pytester: pytest.Pytester):
    """Run the suite on one adapter of broken_adapters.py, the way an adapter's CI would."""
    pytester.makepyfile(broken_adapters=(HERE / "broken_adapters.py").read_text())
    pytester.makeini("[pytest]\nxfail_strict = true\naddopts = --strict-markers -p no:cacheprovider -ra\n")

    def run(adapter: str, *, extra: str = "", args: tuple[str, ...] = ()) -> pytest.RunResult:
        pytester.makepyfile(test_conformance=suite_module(adapter, n_examples=6, extra=extra))
        return pytester.runpytest("--stacktune-max-examples=8", *args)

    return run


def test_correct_toy_program_passes_the_whole_suite(pytester: pytest.Pytester, run_suite) -> None:
    pytester.makepyfile(broken_adapters="from stacktune.testing import ToyProgram\n")
    result = run_suite("ToyProgram")
    result.assert_outcomes(passed=N_TESTS - len(OPTIONAL), skipped=len(OPTIONAL))
    result.stdout.fnmatch_lines(
        [
            "SKIPPED*does not implement stacktune.SupportsExport*",
            "SKIPPED*does not implement both stacktune.SupportsExport and*",
            "SKIPPED*does not implement stacktune.SupportsInstructionProposals*",
            "SKIPPED*does not implement stacktune.proposals.SupportsBootstrappedDemos*",
            "SKIPPED*does not implement stacktune.SupportsAsyncEvaluate*",
            "SKIPPED*no `failing_example` fixture*",
            "SKIPPED*no `at_fault_server` fixture*",
        ]
    )


def test_adapter_with_every_capability_passes_every_test(run_suite) -> None:
    result = run_suite("CompleteToy", extra=FAILING_EXAMPLE)
    result.assert_outcomes(passed=N_TESTS - NO_SERVER - NO_PROPOSALS, skipped=NO_SERVER + NO_PROPOSALS)


@pytest.mark.parametrize(
    ("adapter", "failing_test", "skipped"),
    [
        ("MutatingToy", "test_apply_never_mutates_original", 3 + NO_DEMOS),
        ("IgnoringToy", "test_apply_then_extract_shows_applied_values", 3 + NO_DEMOS),
        ("SwallowingToy", "test_on_result_exception_stops_and_propagates", 3 + NO_DEMOS),
        ("WrongUsageToy", "test_evaluate_usage_adds_up", 3 + NO_DEMOS),
        ("LenientToy", "test_rejects_unknown_variable", 3 + NO_DEMOS),
        ("NoneExportToy", "test_export_to_native", 0),
        ("StaleExportToy", "test_export_check", 0),
        ("DeafAsyncToy", "test_async_evaluate_matches_sync", 0),
        ("PushyDemoToy", "test_bootstrapped_demos", 0),
    ],
)
def test_broken_adapter_fails_on_the_right_test(run_suite, adapter: str, failing_test: str, skipped: int) -> None:
    """Exactly one test fails, the one whose rule the adapter breaks (the rest pass or skip)."""
    result = run_suite(adapter, extra=FAILING_EXAMPLE)
    skipped += NO_SERVER + NO_PROPOSALS
    result.assert_outcomes(passed=N_TESTS - 1 - skipped, failed=1, skipped=skipped)
    result.stdout.fnmatch_lines([f"FAILED test_conformance.py::TestAdapter::{failing_test}*"])


def test_adapter_killed_by_one_failure_fails_both_failure_tests(run_suite) -> None:
    result = run_suite("FragileToy", extra=FAILING_EXAMPLE)
    result.assert_outcomes(
        passed=N_TESTS - 5 - NO_SERVER - NO_PROPOSALS - NO_DEMOS,
        failed=2,
        skipped=3 + NO_SERVER + NO_PROPOSALS + NO_DEMOS,
    )
    result.stdout.fnmatch_lines_random(
        [
            "FAILED test_conformance.py::TestAdapter::test_failing_metric_counts_as_failure*",
            "FAILED test_conformance.py::TestAdapter::test_failing_target_counts_as_failure*",
        ]
    )
