"""Racing, stacktune's default search: its decisions, its statistics, and how Study.optimize uses it."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import pytest

import stacktune
from stacktune import BUILTIN_OBJECTIVES, OptunaSearch, Racing, create_study
from stacktune.racing import DEFAULT_POLICY, Lane, Race, RacingPolicy
from stacktune.racing_front import FrontRace
from stacktune.racing_sampler import RacingSampler
from stacktune.testing import ToyProgram, toy_dataset, toy_metric

optuna.logging.set_verbosity(optuna.logging.WARNING)

N = 40


def incumbent_scores(ones: int = 28, n: int = N, seed: int = 1) -> list[float]:
    scores = [1.0] * ones + [0.0] * (n - ones)
    random.Random(seed).shuffle(scores)
    return scores


def race_with(incumbent: Sequence[float], policy: RacingPolicy = DEFAULT_POLICY) -> Race:
    race = Race(len(incumbent), policy)
    assert race.offer(incumbent)
    return race


def run_lane(race: Race, candidate: Sequence[float], trial_number: int = 0) -> int | None:
    """Feed a candidate in its trial's order; the number of examples seen when it was stopped, or None."""
    lane = race.lane(trial_number)
    for position, index in enumerate(lane.order, 1):
        if lane.add(index, candidate[index]):
            return position
    return None


class TestDecisions:
    def test_a_clearly_worse_configuration_is_stopped_early(self) -> None:
        incumbent = incumbent_scores(32)
        worse = [1.0 if random.Random(i).random() < 0.3 else 0.0 for i in range(N)]
        stopped = run_lane(race_with(incumbent), worse)
        assert stopped is not None and stopped <= 12, "a 0.3 configuration against a 0.8 one stops within a dozen"

    def test_a_configuration_level_with_the_incumbent_is_not_stopped_on_noise(self) -> None:
        incumbent = incumbent_scores(28)
        race = race_with(incumbent)
        # Same accuracy, different examples: wrong on every fifth of the incumbent's rights (in the race's
        # order), right on as many of its wrongs, spread over the whole order as chance would spread them.
        level = list(incumbent)
        rights = [i for i in race.order(0) if incumbent[i] == 1.0]
        wrongs = [i for i in race.order(0) if incumbent[i] == 0.0]
        for lost, won in zip(rights[2::5], wrongs[1::2]):
            level[lost], level[won] = 0.0, 1.0
        assert sum(level) == sum(incumbent) and level != incumbent
        stopped = run_lane(race, level)
        assert stopped is None or stopped >= 30, "only late, when it can at best tie, may it stop"

    def test_a_leading_configuration_is_never_stopped(self) -> None:
        incumbent = incumbent_scores(20)
        race = race_with(incumbent)
        better = [1.0] * N
        assert run_lane(race, better) is None

    def test_a_better_configuration_survives_an_unlucky_start(self) -> None:
        incumbent = incumbent_scores(24)
        race = race_with(incumbent)
        better = [1.0] * N  # 40/40 against 24/40, but wrong on the first two examples it sees
        for index in race.order(0)[:2]:
            better[index] = 0.0
        assert run_lane(race, better) is None

    def test_an_unlucky_start_in_one_trial_is_not_repeated_in_the_next(self) -> None:
        incumbent = incumbent_scores(30)
        race = race_with(incumbent)
        # 36/40 against 30/40, but its only four losses are the first four rights of the incumbent's in trial 0
        unlucky = list(incumbent)
        for index in [i for i in race.order(0) if incumbent[i] == 1.0][:4]:
            unlucky[index] = 0.0
        for index in [i for i in range(N) if incumbent[i] == 0.0]:
            unlucky[index] = 1.0
        assert sum(unlucky) == 36
        assert run_lane(race, unlucky, trial_number=0) is not None, "four losses in a row: stopped in trial 0"
        survived = [number for number in range(1, 21) if run_lane(race, unlucky, trial_number=number) is None]
        assert len(survived) >= 15, "proposed again, it starts afresh and usually goes the distance"

    def test_a_copy_of_the_incumbent_stops_once_it_cannot_win(self) -> None:
        incumbent = incumbent_scores(28)
        stopped = run_lane(race_with(incumbent), incumbent)
        assert stopped is not None and stopped < N // 2, "the same answers everywhere: it can at best tie"

    def test_without_the_same_prior_a_copy_runs_much_longer(self) -> None:
        incumbent = incumbent_scores(28)
        with_prior = run_lane(race_with(incumbent), incumbent)
        without = run_lane(race_with(incumbent, RacingPolicy(same_prior=0.0)), incumbent)
        assert with_prior is not None
        assert without is None or without > with_prior + 10

    def test_a_configuration_that_can_no_longer_win_is_stopped_even_with_a_tiny_delta(self) -> None:
        incumbent = [1.0] * 30 + [0.0] * 10
        race = race_with(incumbent, RacingPolicy(delta=1e-12, same_prior=0.0))
        hopeless = [0.0] * N
        stopped = run_lane(race, hopeless)
        assert stopped is not None and stopped <= 11, "after 11 zeros it can score at most 29 < 30"

    def test_never_before_min_examples(self) -> None:
        incumbent = [1.0] * N
        race = race_with(incumbent, RacingPolicy(min_examples=8))
        assert run_lane(race, [0.0] * N) == 8

    def test_no_incumbent_no_race(self) -> None:
        race = Race(N)
        lane = race.lane(0)
        assert not lane.racing
        assert not any(lane.add(i, 0.0) for i in race.order(0))

    def test_the_estimate_uses_the_incumbent(self) -> None:
        incumbent = incumbent_scores(30)
        race = race_with(incumbent)
        lane = race.lane(0)
        for index in race.order(0)[:10]:  # agrees on the first ten: estimated close to the incumbent
            lane.add(index, incumbent[index])
        assert lane.estimate() == pytest.approx(30 / N, abs=0.08)
        worse = race.lane(0)
        for index in race.order(0)[:10]:
            worse.add(index, 0.0)
        assert worse.estimate() < lane.estimate() - 0.3

    def test_graded_scores_use_the_normal_model(self) -> None:
        rng = random.Random(3)
        incumbent = [min(1.0, max(0.0, rng.gauss(0.8, 0.1))) for _ in range(N)]
        race = race_with(incumbent)
        worse = [max(0.0, s - 0.4) for s in incumbent]
        stopped = run_lane(race, worse)
        assert stopped is not None and stopped <= 10
        lane = race.lane(0)
        assert not lane.binary or lane.seen == 0
        slightly_better = [s + 0.03 + (0.05 if i % 2 else -0.05) for i, s in enumerate(incumbent)]
        assert all(run_lane(race, slightly_better, number) is None for number in range(20)), "not stopped on noise"


def f1_like(rng: random.Random, quality: float) -> float:
    """A graded score like token F1: right (1), partly right (0.4 to 0.8) or wrong (0), better with ``quality``."""
    draw = rng.random()
    if draw < 0.7 * quality:
        return 1.0
    if draw < 0.7 * quality + 0.3:
        return rng.choice([0.4, 0.5, 0.67, 0.8])
    return 0.0


class TestGradedScores:
    """Token F1, similarity, a judge's 1-5: the race holds on scores that are not 0/1."""

    def test_stops_are_calibrated_on_f1_like_scores(self) -> None:
        """Of the trials the race stops, fewer than delta would have ended above the incumbent; most are stopped."""
        rng = random.Random(0)
        stopped = would_have_won = 0
        trials = 600
        for number in range(trials):
            quality = rng.uniform(0.4, 0.7)
            incumbent = [f1_like(rng, quality) for _ in range(N)]
            candidate = [f1_like(rng, quality + rng.uniform(-0.3, 0.15)) for _ in range(N)]
            if run_lane(race_with(incumbent), candidate, number) is not None:
                stopped += 1
                would_have_won += sum(candidate) > sum(incumbent)
        assert stopped > trials / 2, "most candidates (worse, or level) are stopped"
        assert would_have_won / stopped < DEFAULT_POLICY.delta

    def test_a_binary_incumbent_and_a_graded_candidate_use_the_normal_model(self) -> None:
        incumbent = incumbent_scores(24)
        race = race_with(incumbent)
        lane = race.lane(0)
        first = race.order(0)[0]
        lane.add(first, 0.5)  # partly right: no longer a 0/1 race
        assert not lane.binary
        # right where the incumbent is, and partly right (0.5) where it is wrong: 32/40 against 24/40
        better = [1.0 if s == 1.0 else 0.5 for s in incumbent]
        assert all(run_lane(race, better, number) is None for number in range(20))
        worse = [0.5 if s == 1.0 else 0.0 for s in incumbent]  # half of the incumbent everywhere
        stopped = run_lane(race, worse)
        assert stopped is not None and stopped <= 15

    def test_an_incumbent_whose_scores_barely_vary_does_not_make_noise_look_certain(self) -> None:
        incumbent = [0.6] * N  # a judge giving 3 of 5 everywhere
        race = race_with(incumbent)
        lane = race.lane(0)
        assert lane.prior_var == pytest.approx(DEFAULT_POLICY.disagreement * 0.6**2)
        # 0.55 on its first five examples, then 0.8 everywhere: ends well above; five small losses are noise
        better = [0.8] * N
        for index in race.order(0)[:5]:
            better[index] = 0.55
        assert run_lane(race, better) is None
        worse = [0.2] * N
        stopped = run_lane(race, worse)
        assert stopped is not None and stopped <= 10, "a clearly worse one is still stopped early"

    def test_the_estimate_of_a_graded_trial_pairs_with_the_incumbent(self) -> None:
        rng = random.Random(5)
        incumbent = [f1_like(rng, 0.6) for _ in range(N)]
        race = race_with(incumbent, RacingPolicy(delta=1e-12))
        lane = race.lane(0)
        for index in race.order(0)[:10]:
            lane.add(index, incumbent[index] * 0.5 + 0.05)  # half as good, plus a little, on every example
        assert not lane.binary
        # paired: the incumbent's mean over all examples plus the mean difference seen, not the ten seen alone
        seen = [incumbent[i] for i in race.order(0)[:10]]
        expected = sum(incumbent) / N + sum(s * -0.5 + 0.05 for s in seen) / 10
        assert lane.estimate() == pytest.approx(expected)
        assert lane.estimate() != pytest.approx(sum(s * 0.5 + 0.05 for s in seen) / 10)


class TestStatistics:
    def test_binary_chance_matches_scipy_beta_binomials(self) -> None:
        betabinom = pytest.importorskip("scipy.stats").betabinom
        incumbent = incumbent_scores(26)
        race = race_with(incumbent, RacingPolicy(delta=1e-12, same_prior=0.0))
        candidate = [1.0 if random.Random(100 + i).random() < 0.55 else 0.0 for i in range(N)]
        lane = race.lane(0)
        for index in race.order(0)[:15]:
            lane.add(index, candidate[index])
        both, only_inc, only_cand, neither = lane.pairs
        ones_left = 26 - both - only_inc
        zeros_left = (N - 15) - ones_left
        needed = 26 - int(lane.total) + 1
        (ka, kb), (ga, gb) = lane.keep_prior, lane.gain_prior
        keep = betabinom(ones_left, ka + both, kb + only_inc)
        gain = betabinom(zeros_left, ga + only_cand, gb + neither)
        expected = sum(gain.pmf(y) * keep.sf(needed - y - 1) for y in range(zeros_left + 1))
        assert lane._binary_outlook() == pytest.approx(expected, rel=1e-9, abs=1e-12)

    def test_the_same_posterior_needs_every_answer_to_agree(self) -> None:
        incumbent = incumbent_scores(28)
        race = race_with(incumbent, RacingPolicy(delta=1e-12))  # never stops: the statistic alone
        agreeing, disagreeing = race.lane(0), race.lane(0)
        for position, index in enumerate(race.order(0)[:12]):
            agreeing.add(index, incumbent[index])
            disagreeing.add(index, incumbent[index] if position else 1.0 - incumbent[index])
        assert agreeing._same_posterior() > 0.75, "twelve answers out of twelve the same: most likely a copy"
        assert disagreeing._same_posterior() == 0.0

    def test_the_same_posterior_grows_with_each_agreement(self) -> None:
        incumbent = incumbent_scores(28)
        race = race_with(incumbent, RacingPolicy(delta=1e-12))
        lane = race.lane(0)
        posteriors = []
        for index in race.order(0)[:12]:
            lane.add(index, incumbent[index])
            posteriors.append(lane._same_posterior())
        assert posteriors == sorted(posteriors) and posteriors[0] < posteriors[-1]
        assert posteriors[0] > DEFAULT_POLICY.same_prior

    def test_policy_validation(self) -> None:
        with pytest.raises(ValueError, match="delta"):
            RacingPolicy(delta=0.0)
        with pytest.raises(ValueError, match="disagreement"):
            RacingPolicy(disagreement=1.0)
        with pytest.raises(ValueError, match="strength"):
            RacingPolicy(strength=0.0)
        with pytest.raises(ValueError, match="dense_checks"):
            RacingPolicy(dense_checks=0)
        with pytest.raises(ValueError, match="deltta"):
            RacingPolicy(deltta=0.1)  # type: ignore[call-arg]  # a misspelt knob is an error, not ignored
        with pytest.raises(ValueError, match="same_prior"):
            RacingPolicy(same_prior=1.0)
        with pytest.raises(ValueError, match="min_examples"):
            RacingPolicy(min_examples=0)


class TestRace:
    def test_each_trial_has_its_own_fixed_order(self) -> None:
        race = Race(N)
        orders = [race.order(number) for number in range(5)]
        assert all(sorted(order) == list(range(N)) for order in orders)
        assert len(set(orders)) == 5, "trials see the examples in different orders"
        assert orders[0] != tuple(range(N))
        assert Race(N).order(3) == orders[3], "fixed by the trial's number"
        assert race.lane(3).order == orders[3]
        assert Race(N, RacingPolicy(order_seed=1)).order(3) != orders[3]

    def test_the_incumbent_changes_only_for_a_strictly_better_trial(self) -> None:
        race = Race(4)
        assert race.offer([1.0, 0.0, 0.0, 0.0])
        assert not race.offer([0.0, 1.0, 0.0, 0.0]), "a tie keeps the first incumbent"
        assert race.incumbent == (1.0, 0.0, 0.0, 0.0)
        assert race.offer([1.0, 1.0, 0.0, 0.0])
        assert not race.offer([1.0, 1.0, 1.0]), "an evaluation of another size is ignored"

    def test_only_the_racing_search_races_on_per_example_objectives_and_enough_examples(self) -> None:
        score, tokens = BUILTIN_OBJECTIVES["score"], BUILTIN_OBJECTIVES["tokens"]
        assert isinstance(Racing().race(n_examples=40, objectives=[score]), Race)
        assert isinstance(Racing().race(n_examples=40, objectives=[score, tokens]), FrontRace)
        whole = stacktune.Objective("judge", "maximize", lambda e: e.score)  # no per_example: not a mean of examples
        assert Racing().race(n_examples=40, objectives=[score, whole]) is None
        assert OptunaSearch().race(n_examples=40, objectives=[score]) is None
        small = DEFAULT_POLICY.min_dataset - 1
        assert Racing().race(n_examples=small, objectives=[score]) is None
        assert Racing(RacingPolicy(min_dataset=small)).race(n_examples=small, objectives=[score]) is not None


# -- in a study ---------------------------------------------------------------------------------
class CountingStorage(optuna.storages.InMemoryStorage):
    """Counts intermediate-value writes (what a per-example report would cost on a database)."""

    def __init__(self) -> None:
        super().__init__()
        self.intermediate_writes = 0

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        self.intermediate_writes += 1
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)


def shuffled(n: int, seed: int = 0) -> list[float]:
    data = toy_dataset(n)
    random.Random(seed).shuffle(data)
    return data


def view_of(sampler: RacingSampler, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials the wrapped sampler sees when the next trial is sampled (that trial included)."""
    trial = study.ask()
    view, _ = sampler._view(study, study.trials[trial.number])
    return view.get_trials(deepcopy=False)


class TestInAStudy:
    def test_the_default_search_races(self) -> None:
        storage = CountingStorage()
        program = ToyProgram()
        study = create_study(storage=storage, seed=0)
        study.optimize(program, shuffled(N), toy_metric, n_trials=30)
        raced = [t for t in study.trials if t.state == "pruned" and not t.rejected_by]
        complete = study.completed_trials()
        assert raced, "worse configurations are raced out"
        assert all(t.error and "raced out" in t.error for t in raced)
        assert all(0 < t.examples_evaluated < N and t.examples_evaluated + t.examples_saved == N for t in raced)
        # every example ran once: the incumbent's scores are reused, never evaluated again
        assert program.counter.count == sum(t.examples_evaluated for t in study.trials)
        assert study.examples_saved == 30 * N - program.counter.count > 0
        # decided in memory: no intermediate value is written, per example or per trial
        assert storage.intermediate_writes == 0
        assert study.best.number in {t.number for t in complete}

    def test_a_raced_trial_records_its_estimate_and_stays_pruned(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=20)
        frozen = [
            t
            for t in study.optuna_study.trials
            if t.state == optuna.trial.TrialState.PRUNED and "rejected_by" not in t.user_attrs["stacktune"]
        ]
        assert frozen
        best = study.best.values["score"]
        for trial in frozen:
            estimate = trial.user_attrs["stacktune"]["estimated_score"]
            assert trial.values is None and not trial.intermediate_values
            assert 0.0 <= estimate < best + 0.1

    def test_the_sampler_sees_raced_trials_complete_with_their_estimates(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=20)
        sampler = study.optuna_study.sampler
        assert isinstance(sampler, RacingSampler) and isinstance(sampler.base, optuna.samplers.TPESampler)
        stored = study.optuna_study.get_trials(deepcopy=False)
        view = view_of(sampler, study.optuna_study)[: len(stored)]
        assert [t.params for t in view] == [t.params for t in stored]
        for seen, real in zip(view, stored, strict=True):
            record = real.user_attrs["stacktune"]
            if "estimated_score" in record:
                assert seen.state == optuna.trial.TrialState.COMPLETE and seen.value == record["estimated_score"]
                assert real.state == optuna.trial.TrialState.PRUNED, "storage keeps the trial pruned"
            else:
                assert (seen.state, seen.values) == (real.state, real.values)

    def test_the_view_is_brought_up_to_date_between_trials(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=12)
        sampler = study.optuna_study.sampler
        assert isinstance(sampler, RacingSampler)
        first = study.optuna_study.ask()
        study.optuna_study.tell(first, 0.5)
        view = view_of(sampler, study.optuna_study)
        assert len(view) == first.number + 1, "one at a time: every earlier trial, not the one being sampled"
        assert view[first.number].value == 0.5

    def test_a_trial_left_running_does_not_freeze_the_view(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=3)
        stuck = study.optuna_study.ask()  # as if a process had died in the middle of this trial
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=4)
        sampler = study.optuna_study.sampler
        assert isinstance(sampler, RacingSampler) and not sampler.parallel
        view = view_of(sampler, study.optuna_study)
        stored = study.optuna_study.get_trials(deepcopy=False)
        assert [t.number for t in view] == [t.number for t in stored], "rebuilt whole, the new trial included"
        assert view[stuck.number].state == optuna.trial.TrialState.RUNNING
        later = view[stuck.number + 1 : -1]
        assert len(later) >= 4 and all(t.state.is_finished() for t in later), "later trials are seen"

    def test_parallel_trials_see_running_trials_in_the_view(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        program = ToyProgram()
        study.optimize(program, shuffled(N), toy_metric, n_trials=12, n_jobs=2)
        sampler = study.optuna_study.sampler
        assert isinstance(sampler, RacingSampler) and sampler.parallel
        running = study.optuna_study.ask()
        view = view_of(sampler, study.optuna_study)
        assert [t.number for t in view] == [t.number for t in study.optuna_study.get_trials(deepcopy=False)]
        assert view[running.number].state == optuna.trial.TrialState.RUNNING
        assert not sampler._snapshots or all(n > running.number for n in sampler._snapshots)

    def test_complete_trials_store_scores_in_dataset_order(self) -> None:
        data = shuffled(N)
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=1)
        study.optimize(ToyProgram(), data, toy_metric, n_trials=8)
        for trial in study.completed_trials():
            expected = ToyProgram().apply_configuration(trial.configuration).evaluate(data, toy_metric).scores
            assert trial.scores == expected
        for trial in study.trials:
            if trial.state == "pruned":
                seen = [i for i, s in enumerate(trial.scores) if s is not None]
                assert len(seen) == trial.examples_evaluated

    @pytest.mark.parametrize(
        "options",
        [
            {"sampler": optuna.samplers.TPESampler(seed=0)},
            {"pruner": optuna.pruners.NopPruner()},
            {"objectives": ("score", stacktune.Objective("whole", "minimize", lambda e: e.usage.total_tokens))},
        ],
        ids=["sampler-given", "pruner-given", "objective-not-a-mean-of-examples"],
    )
    def test_other_searches_evaluate_every_example(self, options: Mapping[str, Any]) -> None:
        program = ToyProgram()
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0, **options)
        study.optimize(program, shuffled(N), toy_metric, n_trials=10)
        assert program.counter.count == 10 * N
        assert all(t.state == "complete" for t in study.trials if not t.rejected_by)

    def test_small_datasets_are_evaluated_in_full(self) -> None:
        program = ToyProgram()
        n = DEFAULT_POLICY.min_dataset - 1
        create_study(storage=optuna.storages.InMemoryStorage(), seed=0).optimize(
            program, shuffled(n), toy_metric, n_trials=6
        )
        assert program.counter.count == 6 * n

    def test_parallel_trials_race_too(self) -> None:
        program = ToyProgram()
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(program, shuffled(N), toy_metric, n_trials=16, n_jobs=2, max_concurrency=2)
        trials = [t for t in study.trials if not t.rejected_by]
        assert len(trials) == 16
        raced = [t for t in trials if t.state == "pruned"]
        assert raced
        recorded = sum(t.examples_evaluated for t in trials)
        # a raced trial stops issuing examples; those already in flight land and are recorded: nothing is thrown away
        assert program.counter.count == recorded
        assert study.best.values["score"] >= max(t.values.get("score", 0.0) for t in study.completed_trials())


class TestRacingWithManyCallsInFlight:
    @pytest.mark.parametrize("max_concurrency", [4, 8])
    def test_every_answer_paid_for_is_recorded(self, max_concurrency: int) -> None:
        program = ToyProgram()
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(program, shuffled(N), toy_metric, n_trials=20, max_concurrency=max_concurrency)
        raced = [t for t in study.trials if t.estimated_score is not None]
        assert raced
        assert program.counter.count == sum(t.examples_evaluated for t in study.trials)

    def test_fewer_examples_are_in_flight_as_the_odds_fall(self) -> None:
        lane = Lane(DEFAULT_POLICY, tuple(incumbent_scores()), order=range(N))
        assert lane.in_flight(8) == 8, "fair odds: all slots"
        lane.probability = 2 * DEFAULT_POLICY.delta * 0.5
        assert lane.in_flight(8) == 4
        lane.probability = 0.0
        assert lane.in_flight(8) == 1, "never below one"
        assert Lane(DEFAULT_POLICY, None, order=range(N)).in_flight(8) == 8, "no incumbent: nothing to race"


class TestResults:
    def test_raced_trials_carry_their_estimate_and_show_says_racing_saved_examples(self) -> None:
        from rich.console import Console

        from stacktune.cli import print_study

        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0, study_name="raced")
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=20)
        raced = [t for t in study.trials if t.estimated_score is not None]
        assert raced and all(t.state == "pruned" for t in raced)
        assert all(t.estimated_score is None for t in study.completed_trials())
        console = Console(record=True, width=200)
        print_study(study, out=console)
        text = console.export_text()
        assert f"racing stopped {len(raced)} trials early and saved {study.examples_saved} example evaluations" in text


BAD: Mapping[str, Any] = {"strategy": "direct", "temperature": 1.0, "style": "verbose"}  # far below the best


class TestOneRaceAcrossRuns:
    def test_a_resumed_study_races_from_its_first_trial(self, tmp_path: Any) -> None:
        storage = f"sqlite:///{tmp_path}/race.db"
        create_study(storage=storage, study_name="resumed", seed=0).optimize(
            ToyProgram(), shuffled(N), toy_metric, n_trials=10
        )
        again = create_study(storage=storage, study_name="resumed", seed=0)
        again.optuna_study.enqueue_trial(BAD)
        again.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=1)
        first_of_the_new_run = again.trials[-1]
        assert first_of_the_new_run.configuration == BAD
        assert first_of_the_new_run.state == "pruned" and first_of_the_new_run.estimated_score is not None
        assert first_of_the_new_run.examples_evaluated < N, "raced against the stored incumbent, not run in full"

    def test_another_dataset_is_refused_unless_a_new_race_is_asked_for(self) -> None:
        storage = optuna.storages.InMemoryStorage()
        study = create_study(storage=storage, study_name="data", seed=0)
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=4)
        other = shuffled(N, seed=7)[:-1] + [0.999]
        with pytest.raises(stacktune.StacktuneError, match=r"searched another dataset .*new_dataset=True"):
            study.optimize(ToyProgram(), other, toy_metric, n_trials=2)
        study.optuna_study.enqueue_trial(BAD)
        study.optimize(ToyProgram(), other, toy_metric, n_trials=1, new_dataset=True)
        assert study.trials[-1].state == "complete", "no incumbent on the new dataset yet: run in full"
        assert study.optuna_study.user_attrs["stacktune:dataset"]["fingerprint"] == stacktune.study.dataset_fingerprint(
            other
        )

    def test_the_same_examples_give_the_same_fingerprint_in_any_process(self) -> None:
        class Example:
            def __init__(self, text: str) -> None:
                self.text = text

        first = stacktune.study.dataset_fingerprint([Example("a"), {"q": 1}])
        second = stacktune.study.dataset_fingerprint([Example("a"), {"q": 1}])
        assert first == second, "memory addresses in reprs are left out"
        assert stacktune.study.dataset_fingerprint([{"q": 2}]) != stacktune.study.dataset_fingerprint([{"q": 1}])
