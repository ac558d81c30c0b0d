"""The concurrency benchmark runs, and measures what it says: answers in flight used, or thrown away."""

from __future__ import annotations

import pytest
from race_concurrency import main, run
from replay import Table


@pytest.mark.parametrize("concurrency", [1, 4])
def test_following_the_plan_scores_every_answer_paid_for(concurrency: int) -> None:
    figures = run(Table.load("sentiment"), concurrency=concurrency, follow_plan=True, trials=12, seed=0)
    assert figures.raced and figures.calls == figures.scored


def test_the_comparison_loses_answers_in_flight_only_with_concurrency() -> None:
    table = Table.load("sentiment")
    serial = run(table, concurrency=1, follow_plan=False, trials=12, seed=0)
    assert serial.calls == serial.scored
    assert serial == run(table, concurrency=1, follow_plan=True, trials=12, seed=0), "same order, same trials"
    parallel = run(table, concurrency=8, follow_plan=False, trials=12, seed=0)
    assert parallel.calls > parallel.scored


def test_main_prints_one_row_per_concurrency(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--trials", "6", "--seeds", "1", "--concurrency", "1,2"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2
