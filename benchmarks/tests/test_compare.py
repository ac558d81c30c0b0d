"""compare.py: the run bookkeeping, the summary, every strategy on a small real table, the report."""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from pathlib import Path

import pytest
import scipy.stats
from compare import (
    BASELINE,
    STRATEGIES,
    TARGET,
    Run,
    Summary,
    _memoized_wilcoxon,
    compare,
    default_budget,
    main,
    ratio_interval,
    render,
    summarize,
)
from replay import Table

# A sub-grid of the sentiment table: 2 x 2 x 2 x 2 = 16 configurations on all 40 examples (enough for
# stacktune to race: it evaluates datasets under 30 examples in full), 4 of them within 95 % of the best,
# so that TPE-full gets there within the budget on both seeds (its ratio is printed, not "-").
SMALL_GRID = {"instructions": [0, 1], "n_demos": [2, 4], "temperature": [0.5, 1.0]}
BUDGET = 240  # six full evaluations
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def small() -> Table:
    return Table.load("sentiment").subset(grid=SMALL_GRID)


@pytest.fixture(scope="module")
def runs(small: Table) -> dict[str, list[Run]]:
    """Every strategy, each seed, once for the whole module (a fraction of a second each)."""
    return {name: [strategy(small, seed, BUDGET, True) for seed in SEEDS] for name, strategy in STRATEGIES.items()}


def one_row_table(means: list[float], n: int = 20) -> Table:
    """A table over one numeric variable whose configuration i has mean score ``means[i]`` (in n/20 steps)."""
    results = []
    for value, mean in enumerate(means):
        ones = round(mean * n)
        results.append({"configuration": {"x": value}, "scores": [1.0] * ones + [0.0] * (n - ones)})
    return Table.from_dict({"task": "hand", "grid": {"x": list(range(len(means)))}, "results": results})


# -- Run -------------------------------------------------------------------------------------
class TestRun:
    def test_record_counts_every_trial_but_traces_only_known_incumbents(self) -> None:
        run = Run("s", 0, budget=100)
        run.record(10, None)
        run.record(20, 0.5)
        run.record(30, 0.7)
        assert run.trials == 3
        assert run.trace == [(20, 0.5), (30, 0.7)]

    def test_calls_to_is_the_first_trial_reaching_the_threshold(self) -> None:
        run = Run("s", 0, budget=100, trace=[(10, 0.5), (40, 0.9), (70, 1.0), (90, 1.0)])
        assert run.calls_to(0.9) == 40.0
        assert run.calls_to(0.95) == 70.0
        assert run.calls_to(0.5) == 10.0
        assert isinstance(run.calls_to(0.5), float)

    def test_calls_to_tolerates_rounding_but_nothing_more(self) -> None:
        run = Run("s", 0, budget=100, trace=[(10, 0.9 - 1e-13), (50, 0.9 - 1e-6)])
        assert run.calls_to(0.9) == 10.0
        assert run.calls_to(0.9 + 1e-9) == math.inf

    def test_never_reached_is_infinite(self) -> None:
        assert Run("s", 0, budget=100, trace=[(10, 0.5), (90, 0.6)]).calls_to(0.95) == math.inf
        assert Run("s", 0, budget=100).calls_to(0.0) == math.inf

    def test_the_budget_cuts_the_trace(self) -> None:
        run = Run("s", 0, budget=100, trace=[(40, 0.5), (100, 0.7), (120, 1.0)])
        assert run.calls_to(0.7) == 100.0, "a trial ending exactly on the budget counts"
        assert run.calls_to(1.0) == math.inf, "a trial ending past the budget does not"
        assert run.final() == 0.7

    def test_final_is_the_last_incumbent_within_budget_or_zero(self) -> None:
        assert Run("s", 0, budget=100, trace=[(10, 0.5), (60, 0.8)]).final() == 0.8
        assert Run("s", 0, budget=100).final() == 0.0
        assert Run("s", 0, budget=100, trace=[(101, 0.9)]).final() == 0.0


# -- summarize --------------------------------------------------------------------------------
class TestSummarize:
    def test_median_success_and_final(self) -> None:
        table = one_row_table([0.4, 0.8, 1.0])  # best 1.0: the target is 0.95
        runs = [
            Run("s", 0, budget=100, trace=[(20, 0.4), (50, 1.0)]),  # reaches it at 50
            Run("s", 1, budget=100, trace=[(20, 0.8), (80, 1.0)]),  # at 80
            Run("s", 2, budget=100, trace=[(20, 0.8), (110, 1.0)]),  # after the budget: never
        ]
        runs[0].trials, runs[1].trials, runs[2].trials = 2, 4, 6
        summary = summarize(table, runs, seconds=1.5)
        assert summary == Summary(
            strategy="s",
            calls=(50.0, 80.0, math.inf),
            final=pytest.approx((1.0 + 1.0 + 0.8) / 3),
            final_relative=pytest.approx((1.0 + 1.0 + 0.8) / 3),
            trials=4.0,
            seconds=1.5,
        )
        assert summary.median_calls == 80.0
        assert summary.success == pytest.approx(2 / 3)

    def test_most_seeds_failing_make_the_median_infinite(self) -> None:
        table = one_row_table([0.25, 0.5])  # best 0.5: the target is 0.475
        runs = [
            Run("s", 0, budget=100, trace=[(10, 0.5)]),
            Run("s", 1, budget=100, trace=[(10, 0.25)]),
            Run("s", 2, budget=100),
        ]
        summary = summarize(table, runs, seconds=0.0)
        assert summary.median_calls == math.inf
        assert summary.success == pytest.approx(1 / 3)
        assert summary.final == pytest.approx(0.25)
        assert summary.final_relative == pytest.approx(0.5), "relative to the table's best score"

    def test_the_threshold_is_the_target_share_of_the_best(self) -> None:
        table = one_row_table([0.5, 1.0])
        just_below = Run("s", 0, budget=100, trace=[(10, TARGET - 0.05)])
        just_above = Run("s", 1, budget=100, trace=[(30, TARGET)])
        assert summarize(table, [just_below], 0.0).success == 0.0
        assert summarize(table, [just_above], 0.0).median_calls == 30.0


class TestRatioInterval:
    def test_pairs_with_one_ratio_give_that_ratio(self) -> None:
        baseline = [float(c) for c in range(100, 500, 10)]
        assert ratio_interval([c / 2 for c in baseline], baseline) == (0.5, 0.5)

    def test_the_interval_holds_the_ratio_of_medians_and_narrows_with_more_seeds(self) -> None:
        rng = random.Random(7)

        def seeds(n: int) -> tuple[list[float], list[float]]:
            baseline = [rng.uniform(200.0, 800.0) for _ in range(n)]
            return [b * rng.uniform(0.3, 0.7) for b in baseline], baseline

        few, many = seeds(20), seeds(400)
        low, high = ratio_interval(*few) or (0.0, 0.0)
        assert low < statistics.median(few[0]) / statistics.median(few[1]) < high
        many_low, many_high = ratio_interval(*many) or (0.0, 0.0)
        assert many_low < 0.5 < many_high
        assert many_high - many_low < (high - low) / 2

    def test_it_is_reproducible(self) -> None:
        calls, baseline = [30.0, 50.0, 90.0, 20.0], [100.0, 80.0, 120.0, 60.0]
        assert ratio_interval(calls, baseline) == ratio_interval(calls, baseline)
        assert ratio_interval(calls, baseline, seed=1) is not None

    def test_seeds_that_never_get_there(self) -> None:
        assert ratio_interval([math.inf] * 10, [100.0] * 10) == (math.inf, math.inf)
        assert ratio_interval([50.0] * 10, [math.inf] * 10) is None, "the baseline never gets there: no ratio"

    def test_seeds_that_do_not_pair_up(self) -> None:
        assert ratio_interval([1.0, 2.0], [1.0]) is None
        assert ratio_interval([], []) is None


# -- the strategies on a real (small) table ------------------------------------------------------------------
def test_the_small_table_is_what_the_tests_assume(small: Table) -> None:
    assert len(small.configurations) == 16 and small.n_examples == 40
    assert all(c["parser"] in ("word", "sentence") for c in small.configurations)
    assert max(small.means) == small.best_score > 0
    assert sum(m >= TARGET * small.best_score for m in small.means) == 4


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_stays_within_one_trial_of_the_budget(
    name: str, small: Table, runs: dict[str, list[Run]]
) -> None:
    for seed, run in zip(SEEDS, runs[name]):
        assert (run.strategy, run.seed, run.budget) == (name, seed, BUDGET)
        assert run.trials >= 1 and run.trace, "the first trial is evaluated in full: an incumbent exists"
        assert len(run.trace) <= run.trials
        last_calls = run.trace[-1][0]
        # a strategy stops once the budget is spent; only the trial running then may go past it
        assert BUDGET <= last_calls < BUDGET + small.n_examples, (name, seed, run.trace)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_the_incumbent_trace_never_goes_back(name: str, small: Table, runs: dict[str, list[Run]]) -> None:
    for run in runs[name]:
        calls = [c for c, _ in run.trace]
        scores = [s for _, s in run.trace]
        assert calls == sorted(calls) and calls[0] > 0
        # an incumbent only changes for a better full evaluation, and a full evaluation IS the true score
        assert all(b >= a - 1e-9 for a, b in itertools.pairwise(scores)), (name, run.trace)
        assert all(s in small.means for s in scores), "every incumbent is one of the table's configurations"
        assert 0.0 < run.final() <= small.best_score


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_a_run_is_determined_by_its_seed(name: str, small: Table, runs: dict[str, list[Run]]) -> None:
    again = STRATEGIES[name](small, SEEDS[0], BUDGET, True)
    assert (again.trace, again.trials) == (runs[name][0].trace, runs[name][0].trials)


def test_full_evaluations_pay_the_whole_dataset_per_trial(small: Table, runs: dict[str, list[Run]]) -> None:
    for name in ("random", "tpe-full"):
        for run in runs[name]:
            assert run.trials == BUDGET // small.n_examples
            assert [c for c, _ in run.trace] == [small.n_examples * (i + 1) for i in range(run.trials)]


def test_the_minibatch_search_starts_with_a_full_evaluation_of_the_default(
    small: Table, runs: dict[str, list[Run]]
) -> None:
    default = small.space().defaults()
    for run in runs["tpe-minibatch"]:
        assert run.trace[0] == (small.n_examples, small.true_score(default))
        assert run.trials > BUDGET // small.n_examples, "minibatches are cheaper than full evaluations"


def test_a_categorical_space_runs_too(small: Table) -> None:
    for name in ("tpe-full", "stacktune"):
        run = STRATEGIES[name](small, 0, BUDGET, False)
        assert run.trace and BUDGET <= run.trace[-1][0] < BUDGET + small.n_examples


# -- the memoized Wilcoxon test -------------------------------------------------------------------
def test_memoized_wilcoxon_matches_scipy_and_is_undone() -> None:
    import optuna.pruners._wilcoxon as module

    original = module.ss
    rng = random.Random(0)
    cases = [[rng.choice((-1.0, 0.0, 1.0)) for _ in range(rng.randint(14, 40))] for _ in range(20)]
    cases.append([0.5, -1.0, 1.0, 0.25] * 4)  # not all in {-1, 0, 1}: handed to scipy as it is
    with _memoized_wilcoxon():
        assert module.ss is not original
        for differences in cases:
            for alternative in ("greater", "less"):
                expected = scipy.stats.wilcoxon(differences, alternative=alternative, zero_method="zsplit").pvalue
                got = module.ss.wilcoxon(differences, alternative=alternative, zero_method="zsplit").pvalue
                assert got == pytest.approx(float(expected), rel=1e-12, abs=1e-15)
    assert module.ss is original


# -- compare, render, main --------------------------------------------------------------------------------
def test_default_budget_is_the_whole_table(small: Table) -> None:
    assert default_budget(small) == 16 * 40


def test_compare_summarizes_each_strategy_in_order(small: Table) -> None:
    strategies = ["stacktune", "random", "tpe-full"]
    table, summaries = compare(small, seeds=SEEDS, budget=BUDGET, strategies=strategies)
    assert table is small
    assert [s.strategy for s in summaries] == strategies
    for s in summaries:
        assert 0.0 <= s.success <= 1.0 and 0.0 < s.final_relative <= 1.0 and s.trials >= 1 and s.seconds >= 0.0
        assert s.final == pytest.approx(s.final_relative * small.best_score)


def render_row(text: str, strategy: str) -> list[str]:
    rows = [line for line in text.splitlines() if line.startswith(f"| {strategy} |")]
    assert len(rows) == 1, (strategy, text)
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_render_on_hand_made_summaries() -> None:
    table = one_row_table([0.5, 1.0])
    summaries = [
        # 40 seeds each: enough for a bootstrap that rarely draws a majority of "never"
        Summary(BASELINE, calls=(200.0,) * 30 + (math.inf,) * 10, final=0.9, final_relative=0.9, trials=10, seconds=3),
        Summary("stacktune", calls=(50.0,) * 40, final=1.0, final_relative=1.0, trials=30, seconds=1),
        Summary("random", calls=(10.0,) * 10 + (math.inf,) * 30, final=0.5, final_relative=0.5, trials=10, seconds=0),
    ]
    text = render(table, summaries, budget=500, n_seeds=4)
    header = text.splitlines()[0]
    assert header.startswith(
        "## hand (accuracy): 2 configurations x 20 examples, best 1.000, 1 configurations within 95% of it"
    )
    assert header.endswith("budget 500 calls, 4 seeds")
    assert render_row(text, BASELINE) == ["tpe-full", "200", "1.00", "-", "75%", "0.900 (90.0%)", "10", "3"]
    assert render_row(text, "stacktune")[:4] == ["stacktune", "50", "0.25", "0.25-0.25"]
    assert render_row(text, "random")[:5] == ["random", "never", "-", "-", "25%"], (
        "it never gets there: no ratio, no interval"
    )


def test_render_without_a_baseline_has_no_ratio() -> None:
    table = one_row_table([1.0])
    text = render(table, [Summary("random", (40.0,), 1.0, 1.0, 1, 0)], budget=40, n_seeds=1)
    assert render_row(text, "random")[2] == "-"


def test_render_of_a_real_comparison(small: Table) -> None:
    _, summaries = compare(small, seeds=SEEDS, budget=BUDGET)
    text = render(small, summaries, BUDGET, len(SEEDS))
    for name in STRATEGIES:
        render_row(text, name)
    baseline = render_row(text, BASELINE)
    assert baseline[1] != "never" and baseline[2] == "1.00" and baseline[3] == "-"
    assert f"ratio to {BASELINE}" in text and f"budget {BUDGET} calls, 2 seeds" in text


@pytest.fixture
def small_path(small: Table, tmp_path: Path) -> Path:
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small.to_dict()), encoding="utf-8")
    return path


def test_main_on_a_table_file(small_path: Path, small: Table, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--seeds", "1", "--tables", str(small_path), "--budget", str(BUDGET)])
    out = capsys.readouterr().out
    assert out.startswith(f"## sentiment (accuracy): 16 configurations x 40 examples, best {small.best_score:.3f}")
    assert f"budget {BUDGET} calls, 1 seeds" in out
    for name in STRATEGIES:
        render_row(out, name)


def test_main_with_the_default_budget_and_some_strategies(small_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--seeds", "1", "--tables", str(small_path), "--strategies", "tpe-full,stacktune", "--categorical"])
    out = capsys.readouterr().out
    assert f"budget {16 * 40} calls, 1 seeds" in out
    render_row(out, "tpe-full")
    render_row(out, "stacktune")
    assert "| random |" not in out


def test_main_refuses_an_unknown_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--strategies", "tpe-full,grid"])
    assert exit_info.value.code == 2
    assert "unknown strategies ['grid']" in capsys.readouterr().err


def test_every_recorded_table_is_compared_by_default_the_graded_one_included() -> None:
    """`compare.py` with no --tables prints the three 0/1 tables and the graded trivia table."""
    from compare import TABLE_NAMES

    assert TABLE_NAMES == ("sentiment", "headlines", "emotions", "trivia")
    trivia = Table.load("trivia")
    assert trivia.meta["metric"] == "f1"
    scores = {s for row in trivia.scores for s in row}
    assert any(0.0 < s < 1.0 for s in scores), "token F1: partly right answers score between 0 and 1"
    table = render(trivia, [Summary("random", (40.0,), 1.0, 1.0, 1, 0)], budget=40, n_seeds=1)
    assert table.startswith(f"## trivia (f1): {len(trivia.configurations)} configurations x 40 examples")
