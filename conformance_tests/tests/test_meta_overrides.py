"""A standard test may only be overridden to mark it xfail with a reason (as langchain-tests enforces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktune_conformance import OptimizableTests
from stacktune_conformance._overrides import overrides_without_xfail

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent
N_TESTS = len(OptimizableTests.standard_tests())

# CompleteToy passes everything except the target-failure check, skipped (no failing_example fixture).
from suite_template import suite_module  # noqa: E402


@pytest.fixture
def run_with(pytester: pytest.Pytester):
    pytester.makepyfile(broken_adapters=(HERE / "broken_adapters.py").read_text())
    pytester.makeini("[pytest]\nxfail_strict = true\naddopts = --strict-markers -p no:cacheprovider -ra\n")

    def run(body: str, adapter: str = "CompleteToy") -> pytest.RunResult:
        pytester.makepyfile(test_conformance=suite_module(adapter, n_examples=4) + body)
        return pytester.runpytest("--stacktune-max-examples=4")

    return run


# Each run also skips the fault-server check (the toys have no `at_fault_server` fixture) and the
# proposals check (the toys describe no instruction site): two more skipped, counted below.


def test_override_without_xfail_fails_the_guard(run_with) -> None:
    result = run_with("""
    def test_rejects_unknown_variable(self, request, optimizable):
        pass
""")
    result.assert_outcomes(passed=N_TESTS - 4, failed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            "*overridden without @pytest.mark.xfail*['test_rejects_unknown_variable']*",
            "FAILED test_conformance.py::TestAdapter::test_no_overrides_DO_NOT_OVERRIDE*",
        ]
    )


def test_xfail_without_reason_fails_the_guard(run_with) -> None:
    result = run_with("""
    @pytest.mark.xfail
    def test_evaluate_usage_adds_up(self, optimizable, dataset, metric):
        assert False
""")
    result.assert_outcomes(passed=N_TESTS - 5, failed=1, xfailed=1, skipped=3)
    result.stdout.fnmatch_lines(["FAILED test_conformance.py::TestAdapter::test_no_overrides_DO_NOT_OVERRIDE*"])


def test_deleting_a_test_fails_the_guard(run_with) -> None:
    result = run_with("""
    test_evaluate_usage_adds_up = None
""")
    result.assert_outcomes(passed=N_TESTS - 5, failed=1, skipped=3)
    result.stdout.fnmatch_lines(["*overridden without*['test_evaluate_usage_adds_up']*"])


def test_xfail_with_reason_is_the_way_to_opt_out(run_with) -> None:
    """A known failure, marked xfail with its reason: the suite passes and reports it as xfailed."""
    result = run_with(
        """
    @pytest.mark.xfail(reason="this adapter drops unknown keys on purpose (issue #123)")
    def test_rejects_unknown_variable(self, request, optimizable):
        super().test_rejects_unknown_variable(request, optimizable)
""",
        adapter="LenientToy",
    )
    # LenientToy does not export nor take demos: the export, export-check and demo tests skip too.
    result.assert_outcomes(passed=N_TESTS - 8, xfailed=1, skipped=7)
    result.stdout.fnmatch_lines(["XFAIL*test_rejects_unknown_variable*issue #123*"])


def test_overriding_the_guard_itself_is_a_collection_error(run_with) -> None:
    result = run_with("""
    def test_no_overrides_DO_NOT_OVERRIDE(self):
        pass
""")
    assert result.ret != 0
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TestAdapter overrides test_no_overrides_DO_NOT_OVERRIDE*"])


class _Base(OptimizableTests):
    pass


class _Marked(OptimizableTests):
    @pytest.mark.xfail(reason="known")
    def test_evaluate_usage_adds_up(self) -> None:
        raise AssertionError


class _EmptyReason(OptimizableTests):
    @pytest.mark.xfail(reason="  ")
    def test_evaluate_usage_adds_up(self) -> None:
        raise AssertionError


class _Skipped(OptimizableTests):
    @pytest.mark.skip(reason="skip is not xfail")
    def test_evaluate_usage_adds_up(self) -> None:
        raise AssertionError


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (_Base, []),
        (_Marked, []),
        (_EmptyReason, ["test_evaluate_usage_adds_up"]),
        (_Skipped, ["test_evaluate_usage_adds_up"]),
    ],
)
def test_overrides_without_xfail(cls: type, expected: list[str]) -> None:
    assert overrides_without_xfail(cls, OptimizableTests) == expected


def test_inherited_overrides_count_too() -> None:
    class Child(_Skipped):
        pass

    assert overrides_without_xfail(Child, OptimizableTests) == ["test_evaluate_usage_adds_up"]
