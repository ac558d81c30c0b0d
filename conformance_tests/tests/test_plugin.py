"""The pytest11 plugin loads by itself and registers the option, the marker and a fixture."""

from __future__ import annotations

import pytest

from stacktune_conformance import OptimizableTests

pytest_plugins = ["pytester"]

N_TESTS = len(OptimizableTests.standard_tests())

COUNTING_SUITE = """
import pytest
from pathlib import Path
from stacktune.testing import ToyProgram, toy_dataset, toy_metric
from stacktune_conformance import OptimizableTests

LOG = Path(__file__).with_name("applies.log")


class CountingToy(ToyProgram):
    def apply_configuration(self, configuration):
        with LOG.open("a") as log:
            log.write("apply\\n")
        return super().apply_configuration(configuration)


class TestCounting(OptimizableTests):
    @pytest.fixture
    def optimizable(self):
        return CountingToy()

    @pytest.fixture
    def dataset(self):
        return toy_dataset(3)

    @pytest.fixture
    def metric(self):
        return toy_metric


def test_not_part_of_the_suite():
    pass
"""


@pytest.fixture
def plain(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


def test_plugin_is_loaded_through_its_entry_point(plain: pytest.Pytester) -> None:
    plain.makepyfile("""
def test_loaded(request):
    plugin = request.config.pluginmanager.get_plugin("stacktune_conformance")
    assert plugin is not None and plugin.__name__ == "stacktune_conformance.pytest_plugin"
""")
    plain.runpytest().assert_outcomes(passed=1)


def test_option_is_in_help(plain: pytest.Pytester) -> None:
    result = plain.runpytest("--help")
    result.stdout.fnmatch_lines(["*--stacktune-max-examples=N*", "*hypothesis examples per property check*"])


def test_marker_is_registered(plain: pytest.Pytester) -> None:
    result = plain.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.stacktune_conformance: a standard test of the stacktune*"])


@pytest.mark.parametrize(("args", "expected"), [((), 10), (("--stacktune-max-examples=3",), 3)])
def test_settings_fixture_follows_the_option(plain: pytest.Pytester, args: tuple[str, ...], expected: int) -> None:
    plain.makepyfile(f"""
from hypothesis import given, strategies as st

def test_settings(stacktune_settings):
    assert stacktune_settings.max_examples == {expected}
    assert stacktune_settings.deadline is None
    seen = []

    @stacktune_settings
    @given(st.integers())
    def draw(x):
        seen.append(x)

    draw()
    assert 1 <= len(seen) <= {expected}
""")
    plain.runpytest(*args).assert_outcomes(passed=1)


def test_max_examples_below_one_is_a_usage_error(plain: pytest.Pytester) -> None:
    result = plain.runpytest("--stacktune-max-examples=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--stacktune-max-examples must be at least 1, got 0*"])


@pytest.mark.parametrize("limit", [2, 12])
def test_suite_draws_at_most_max_examples(plain: pytest.Pytester, limit: int) -> None:
    plain.makepyfile(test_counting=COUNTING_SUITE)
    plain.runpytest(
        f"--stacktune-max-examples={limit}", "-k", "test_apply_accepts_every_drawn_configuration"
    ).assert_outcomes(passed=1, deselected=N_TESTS)
    applies = len((plain.path / "applies.log").read_text().splitlines())
    assert 1 <= applies <= limit
    if limit > 2:
        assert applies > 2, "a larger limit must draw more configurations"


def test_marker_selects_the_suite(plain: pytest.Pytester) -> None:
    plain.makepyfile(test_counting=COUNTING_SUITE)
    result = plain.runpytest("-m", "not stacktune_conformance")
    result.assert_outcomes(passed=1, deselected=N_TESTS)
