"""The replay Optimizable serves recorded results exactly, counts them, and snaps numeric values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from replay import Counter, ReplayProgram, Table, recorded_score

from stacktune import Float, Int
from stacktune_conformance import OptimizableTests

GRID = {"instructions": [0, 3], "n_demos": [0, 2, 4], "temperature": [0.0, 0.5, 1.0], "parser": ["word", "letter"]}


def tiny_table() -> Table:
    """Every configuration scores example j right when (j + row) % 3 != 0: distinct rows, known values."""
    import itertools

    results = []
    for row, values in enumerate(itertools.product(*GRID.values())):
        scores = [0.0 if (j + row) % 3 == 0 else 1.0 for j in range(6)]
        results.append(
            {
                "configuration": dict(zip(GRID, values)),
                "scores": scores,
                "input_tokens": [10 + j for j in range(6)],
                "output_tokens": [2] * 6,
                "latency": [0.1 * (j + 1) for j in range(6)],
            }
        )
    return Table.from_dict({"task": "tiny", "grid": GRID, "results": results})


class TestTable:
    def test_numeric_variables_are_ranges_that_snap_to_the_grid(self) -> None:
        table = tiny_table()
        space = table.space()
        assert isinstance(space["temperature"], Float) and (space["temperature"].low, space["temperature"].high) == (
            0.0,
            1.0,
        )
        assert isinstance(space["n_demos"], Int)
        assert space["instructions"].kind == "categorical", "instruction indices stay categorical"
        assert table.snap({"instructions": 3, "n_demos": 3, "temperature": 0.74, "parser": "word"}) == {
            "instructions": 3,
            "n_demos": 2,
            "temperature": 0.5,
            "parser": "word",
        }
        assert (
            table.snap({"instructions": 3, "n_demos": 4, "temperature": 0.76, "parser": "word"})["temperature"] == 1.0
        )
        assert all(v.kind == "categorical" for v in table.space(numeric=False))

    def test_true_score_is_the_mean_over_all_examples(self) -> None:
        table = tiny_table()
        config = {"instructions": 0, "n_demos": 0, "temperature": 0.0, "parser": "letter"}
        row = table.index(config)
        assert table.true_score(config) == pytest.approx(sum(table.scores[row]) / 6)
        assert table.best_score == max(table.means)

    def test_an_unfinished_table_is_refused(self) -> None:
        data = tiny_table().to_dict()
        data["results"] = data["results"][:-1]
        with pytest.raises(ValueError, match="35 configurations, the grid has 36"):
            Table.from_dict(data)

    def test_subset(self) -> None:
        small = tiny_table().subset(grid={"parser": ["word"], "n_demos": [0, 4]}, examples=[0, 2, 4])
        assert len(small.configurations) == 2 * 2 * 3 and small.n_examples == 3
        assert small.grid["n_demos"] == [0, 4]
        assert small.true_score(
            {"instructions": 0, "n_demos": 4, "temperature": 0.0, "parser": "word"}
        ) == pytest.approx(
            sum(
                tiny_table().scores[
                    tiny_table().index({"instructions": 0, "n_demos": 4, "temperature": 0.0, "parser": "word"})
                ][j]
                for j in (0, 2, 4)
            )
            / 3
        )

    def test_unknown_choice(self) -> None:
        with pytest.raises(ValueError, match="parser='json' is not in the grid"):
            tiny_table().snap({"instructions": 0, "n_demos": 0, "temperature": 0.0, "parser": "json"})


class TestReplayProgram:
    def test_serves_recorded_results_exactly_and_counts_them(self) -> None:
        table = tiny_table()
        counter = Counter()
        program = ReplayProgram(table, counter=counter).apply_configuration({"n_demos": 4, "temperature": 0.9})
        row = table.index(program.configuration)
        seen: list[tuple[int, float]] = []
        evaluation = program.evaluate([5, 0, 3], recorded_score, on_result=lambda i, s: seen.append((i, s)))
        assert evaluation.scores == tuple(table.scores[row][j] for j in (5, 0, 3))
        assert seen == [(0, table.scores[row][5]), (1, table.scores[row][0]), (2, table.scores[row][3])]
        assert evaluation.usage.input_tokens == 15 + 10 + 13
        assert evaluation.usage.latencies == pytest.approx((0.6, 0.1, 0.4))
        assert counter.count == 3

    def test_stops_when_on_result_raises(self) -> None:
        counter = Counter()
        program = ReplayProgram(tiny_table(), counter=counter)

        def stop(index: int, score: float) -> None:
            if index == 1:
                raise KeyError("stop")

        with pytest.raises(KeyError):
            program.evaluate(list(range(6)), recorded_score, on_result=stop)
        assert counter.count == 2

    def test_a_bad_example_is_a_counted_failure(self) -> None:
        evaluation = ReplayProgram(tiny_table()).evaluate([0, 99], recorded_score)
        assert evaluation.n_failures == 1 and evaluation.failures[0].index == 1
        assert "indices 0..5" in evaluation.failures[0].message

    def test_the_original_never_changes(self) -> None:
        program = ReplayProgram(tiny_table())
        before = dict(program.configuration)
        program.apply_configuration({"parser": "letter"})
        assert program.configuration == before


class TestReplayConformance(OptimizableTests):
    @pytest.fixture
    def optimizable(self) -> ReplayProgram:
        return ReplayProgram(tiny_table())

    @pytest.fixture
    def dataset(self) -> list[int]:
        return [0, 1, 2, 3]

    @pytest.fixture
    def metric(self) -> Callable[[Any, Any], float]:
        return recorded_score

    @pytest.fixture
    def failing_example(self) -> int:
        return -1
