"""overhead_per_example.py: the history it builds and its measurements, on tiny sizes."""

from __future__ import annotations

import math
import random
import statistics
import sys

import optuna
import pytest
from overhead_per_example import (
    HISTORY,
    IN_FULL,
    PLAIN,
    SINGLE,
    main,
    recorded,
    scores_for,
    serve,
    summing_in_full,
    time_optuna,
    time_paths,
    time_racing,
    time_replayed,
    with_history,
)

from stacktune.racing import Race

N = 16  # examples per trial: past WilcoxonPruner(n_startup_steps=14)'s startup, so it tests too
TRIALS = 2


def positive_and_finite(costs: list[float]) -> bool:
    """Finite times, none negative, and not all zero (one can round to 0 with a coarse clock)."""
    return all(math.isfinite(c) and c >= 0.0 for c in costs) and statistics.fmean(costs) > 0.0


def test_scores_are_zero_or_one_and_seeded() -> None:
    scores = scores_for(random.Random(3), 0.5, 200)
    assert len(scores) == 200 and set(scores) == {0.0, 1.0}
    assert scores == scores_for(random.Random(3), 0.5, 200)
    assert scores_for(random.Random(3), 0.0, 10) == [0.0] * 10
    assert scores_for(random.Random(3), 1.0, 10) == [1.0] * 10


@pytest.mark.parametrize("per_example", [False, True])
def test_the_history_is_reported_like_study_optimize(per_example: bool) -> None:
    study, best = with_history(
        optuna.storages.InMemoryStorage(), optuna.pruners.NopPruner(), N, per_example, random.Random(0)
    )
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == HISTORY and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len(best) == N and statistics.fmean(best) == max(t.value for t in trials)
    first = trials[0]
    if per_example:  # each example's own score, by example index
        assert sorted(first.intermediate_values) == list(range(N))
        assert set(first.intermediate_values.values()) <= {0.0, 1.0}
    else:  # the running mean after k examples, at step k: the last one is the trial's value
        assert sorted(first.intermediate_values) == list(range(1, N + 1))
        assert first.intermediate_values[N] == pytest.approx(first.value)


@pytest.mark.parametrize(
    ("pruner", "per_example"),
    [
        (optuna.pruners.MedianPruner(), False),
        (optuna.pruners.SuccessiveHalvingPruner(min_resource=5), False),
        (optuna.pruners.WilcoxonPruner(n_startup_steps=14), True),
    ],
    ids=["median", "halving", "wilcoxon"],
)
def test_optuna_costs_one_positive_time_per_example(pruner: optuna.pruners.BasePruner, per_example: bool) -> None:
    storage = optuna.storages.InMemoryStorage()
    costs = time_optuna(storage, pruner, N, TRIALS, per_example, random.Random(0))
    assert len(costs) == N * TRIALS, "decisions are ignored: every example of every trial is checked"
    assert positive_and_finite(costs)
    timed = optuna.load_study(study_name=storage.get_all_studies()[0].study_name, storage=storage).trials[HISTORY:]
    assert len(timed) == TRIALS and all(t.state == optuna.trial.TrialState.PRUNED for t in timed)
    assert all(len(t.intermediate_values) == N for t in timed)


def test_racing_costs_a_positive_time_per_example_fed() -> None:
    storage = optuna.storages.InMemoryStorage()
    costs = time_racing(storage, N, TRIALS, random.Random(0))
    # a lane that stops is fed no more examples (Study.optimize ends the trial): at most N per trial
    assert TRIALS <= len(costs) <= N * TRIALS
    assert positive_and_finite(costs)
    timed = optuna.load_study(study_name=storage.get_all_studies()[0].study_name, storage=storage).trials[HISTORY:]
    assert len(timed) == TRIALS and all(t.state == optuna.trial.TrialState.PRUNED for t in timed)
    assert all(len(t.intermediate_values) == 1 for t in timed), "one storage write per raced trial"


def test_main_prints_a_row_per_strategy_and_storage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 6 examples: the default WilcoxonPruner runs scipy's exact test, cheap at this size
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "overhead_per_example.py",
            *("--examples", "6", "--trials", "1", "--path-trials", "2", "--path-examples", "6"),
            *("--tables", "sentiment", "--replay-seeds", "1", "--replay-budget", "60"),
        ],
    )
    main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("6 examples per trial, 0/1 scores, 20 finished trials in the study")
    first = lines[3 : lines.index("")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in first]
    strategies = [
        "stacktune default (racing)",
        "MedianPruner",
        "SuccessiveHalvingPruner",
        "WilcoxonPruner (n_startup_steps=14)",
        "WilcoxonPruner (default)",
    ]
    assert [(r[0], r[1]) for r in rows] == [(s, storage) for s in strategies for storage in ("in-memory", "sqlite")]
    for row in rows:
        mean, median, slowest = (float(v) for v in row[2:])
        assert all(math.isfinite(v) and v >= 0.0 for v in (mean, median, slowest)), row
        assert median <= slowest + 0.05 and mean <= slowest + 0.05, row  # slowest is printed to 0.1 ms
    paths = [line for line in lines if line.startswith("The per-example path of one trial")]
    assert len(paths) == 2 and "0/1 scores" in paths[0] and "graded scores" in paths[1]
    assert "30 examples" in paths[0], "ten front members with distinct means need at least 30 examples"
    path_rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("| race on ")]
    assert len(path_rows) == 2 * 8, "four fronts, each cut short and summed in full, for 0/1 and graded scores"
    for row in path_rows:
        per_example, race_only, times_plain, times_single = row[1:]
        assert float(per_example) > 0.0 and float(times_plain) > 0.0 and float(times_single) > 0.0
        assert float(race_only) == pytest.approx(float(per_example) * (1 - 1 / float(times_plain)), abs=1.0)


@pytest.mark.parametrize("graded", [False, True])
def test_recorded_trials_have_exact_means(graded: bool) -> None:
    trial = recorded(random.Random(0), 40, 0.6, 100.0, graded)
    assert statistics.fmean(trial.scores) == pytest.approx(0.6)
    assert statistics.fmean(trial.tokens) == pytest.approx(100.0)
    assert (set(trial.scores) == {0.0, 1.0}) is not graded
    assert trial != recorded(random.Random(1), 40, 0.6, 100.0, graded), "shuffled by the seed"


def test_serve_runs_the_runner_and_the_stopper() -> None:
    from stacktune.study._trials import RaceStopper

    trial = recorded(random.Random(0), 40, 0.2, 100.0, False)
    order = list(range(40))
    served, per_example = serve(trial, None, order)
    assert served == 40 and per_example > 0.0, "plain evaluation serves every example"
    race = Race(40)
    race.offer([1.0] * 36 + [0.0] * 4)
    served, per_example = serve(trial, RaceStopper(race.lane(0)), race.order(0))
    assert 5 <= served < 20 and per_example > 0.0, "the race stops a hopeless trial: the runner serves no more"


@pytest.mark.parametrize("graded", [False, True])
def test_time_paths_measures_every_path_each_trial(graded: bool) -> None:
    costs = time_paths(N * 2, 3, random.Random(0), graded=graded)
    assert list(costs)[:2] == [PLAIN, SINGLE] and len(costs) == 10
    assert sum(name.endswith(IN_FULL) for name in costs) == 4
    assert all(len(values) == 3 and positive_and_finite(values) for values in costs.values())


def test_the_replayed_studies_decide_the_same_cut_short_or_summed_in_full() -> None:
    short = time_replayed("sentiment", [0], 120, full_sum=False)
    full = time_replayed("sentiment", [0], 120, full_sum=True)
    assert len(short) == len(full) > 0, "the same trials see the same examples: the same decisions"
    assert positive_and_finite(short) and positive_and_finite(full)
    from stacktune.racing_front import FrontLane
    from stacktune.study._trials import FrontStopper

    assert FrontLane._outlook.__name__ == "_outlook" and FrontStopper.check.__name__ == "check", "restored"


def test_summing_in_full_gives_the_exact_bound() -> None:
    from stacktune.racing_front import FrontRace

    race = FrontRace(8, (1, -1))
    race.offer_values([[1.0] * 6 + [0.0] * 2, [10.0] * 8])
    race.offer_values([[1.0] * 4 + [0.0] * 4, [5.0] * 8])
    lane = race.lane(0)
    for index in lane.order[:5]:
        lane.add(index, [0.0, 12.0])
    assert summing_in_full(lane)._outlook(enough=1e-9) == pytest.approx(
        min(min(1.0, math.fsum(p.chance() for p in pairings)) for pairings in lane.members)
    )
