"""benchmarks/front.py: the hypervolume, a run's trace, and one small comparison on a recorded table."""

from __future__ import annotations

import math

import pytest
from compare import ratio_interval
from front import FrontRun, compare_front, hypervolume, render_front


def test_hypervolume_of_one_point_is_its_box_to_the_reference() -> None:
    assert hypervolume([(0.0, 0.0)], reference=(1.0, 1.0)) == pytest.approx(1.0)
    assert hypervolume([(0.5, 0.5)], reference=(1.0, 1.0)) == pytest.approx(0.25)


def test_hypervolume_ignores_dominated_points_and_adds_the_front() -> None:
    front = [(0.0, 0.5), (0.5, 0.0)]
    expected = 0.5 * 0.5 + 0.5 * 1.0  # the staircase under two points, reference (1, 1)
    assert hypervolume(front, reference=(1.0, 1.0)) == pytest.approx(expected)
    assert hypervolume([*front, (0.6, 0.6), (0.5, 0.5)], reference=(1.0, 1.0)) == pytest.approx(expected)


def test_a_front_run_reads_calls_to_a_share_within_its_budget() -> None:
    run = FrontRun("random", 0, budget=100, trace=[(10, 0.5), (60, 0.96), (120, 1.0)])
    assert run.calls_to(0.95) == 60
    assert math.isinf(run.calls_to(0.99)), "reached only past the budget"
    assert run.final() == 0.96


def test_a_small_comparison_on_a_recorded_table_prints_every_strategy() -> None:
    front, summaries = compare_front(
        "sentiment", ("score", "tokens"), seeds=range(2), budget=200, strategies=("random", "stacktune")
    )
    assert [s.strategy for s in summaries] == ["random", "stacktune"]
    assert all(len(s.calls) == 2 and 0.0 < s.final <= 1.0 for s in summaries)
    text = render_front(front, summaries, 2, ratio_interval)
    assert "| random |" in text and "| stacktune |" in text
