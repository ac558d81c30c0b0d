"""Racing on several objectives: a trial races the Pareto front, and stops once unlikely to end on it."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacktune import create_study
from stacktune.racing import DEFAULT_POLICY
from stacktune.racing_front import FrontLane, FrontRace, dominates
from stacktune.records import TrialRecord
from stacktune.testing import ToyProgram, toy_dataset, toy_metric

optuna.logging.set_verbosity(optuna.logging.WARNING)

N = 40
SIGNS = (1, -1)  # score (maximize), tokens (minimize)


def member(ones: int, tokens: float, seed: int = 1) -> tuple[list[float], list[float]]:
    scores = [1.0] * ones + [0.0] * (N - ones)
    random.Random(seed).shuffle(scores)
    rng = random.Random(seed + 100)
    return scores, [tokens + rng.uniform(-5, 5) for _ in range(N)]


def race_with(*members: tuple[list[float], list[float]]) -> FrontRace:
    race = FrontRace(N, SIGNS)
    for values in members:
        race.offer_values(values)
    return race


def feed(lane: FrontLane, values: tuple[Sequence[float], Sequence[float]]) -> int | None:
    """Feed a candidate in its trial's order; how many examples it saw when stopped, or None."""
    for position, index in enumerate(lane.order, 1):
        if lane.add(index, [values[0][index], values[1][index]]):
            return position
    return None


class TestTheFront:
    def test_only_non_dominated_trials_stay(self) -> None:
        race = race_with(member(30, 100), member(20, 50))
        assert len(race.front) == 2, "better but dearer, worse but cheaper: both on the front"
        assert not race.offer_values(member(25, 120)), "worse and dearer than the first: rejected"
        assert race.offer_values(member(32, 40))
        assert len(race.front) == 1, "a trial better and cheaper than both replaces them"
        assert dominates((2.0, -1.0), (1.0, -1.0)) and not dominates((1.0, -1.0), (1.0, -1.0))


class TestTheLane:
    def test_a_dominated_candidate_is_stopped_early(self) -> None:
        race = race_with(member(32, 100))
        stopped = feed(race.lane(0), member(14, 160, seed=3))
        assert stopped is not None and stopped < N / 2

    def test_a_cheaper_candidate_stays_on_the_front_and_is_never_stopped(self) -> None:
        race = race_with(member(32, 100))
        assert all(feed(race.lane(t), member(20, 40, seed=t)) is None for t in range(10))

    def test_a_better_candidate_is_never_stopped(self) -> None:
        race = race_with(member(26, 100))
        assert all(feed(race.lane(t), member(34, 110, seed=t)) is None for t in range(10))

    def test_never_before_min_examples_and_no_front_no_race(self) -> None:
        race = race_with(member(38, 10))
        lane = race.lane(0)
        worst = member(0, 500)
        for index in lane.order[: DEFAULT_POLICY.min_examples - 1]:
            assert not lane.add(index, [worst[0][index], worst[1][index]])
        assert not FrontRace(N, SIGNS).lane(0).racing

    def test_a_copy_of_a_member_stops_once_it_cannot_be_better_anywhere(self) -> None:
        scores, tokens = member(30, 100)
        race = race_with((scores, tokens))
        stopped = feed(race.lane(0), (scores, tokens))
        assert stopped is not None and stopped < N

    def test_the_estimate_pairs_with_the_front(self) -> None:
        race = race_with(member(30, 100))
        lane = race.lane(0)
        candidate = member(20, 150, seed=5)
        feed(lane, candidate)
        score, tokens = lane.estimate()
        assert 0.3 < score < 0.75 and 120 < tokens < 180

    def test_fewer_examples_in_flight_as_the_odds_fall(self) -> None:
        lane = race_with(member(30, 100)).lane(0)
        assert lane.in_flight(8) == 8
        lane.probability = 0.0
        assert lane.in_flight(8) == 1


def exact_outlook(lane: FrontLane) -> float:
    """The bound summed over every objective of every member (what the cut-short ``_outlook`` must agree with)."""
    return min(min(1.0, math.fsum(p.chance() for p in pairings)) for pairings in lane.members)


class TestTheOutlookCutShort:
    @settings(max_examples=60, deadline=None)
    @given(
        front=st.lists(st.tuples(st.integers(0, N), st.floats(20, 200)), min_size=1, max_size=6),
        candidate=st.tuples(st.integers(0, N), st.floats(20, 200)),
        seen=st.integers(5, N - 1),
        seed=st.integers(0, 1000),
    )
    def test_it_decides_as_the_full_sum_does(
        self, front: list[tuple[int, float]], candidate: tuple[int, float], seen: int, seed: int
    ) -> None:
        race = FrontRace(N, SIGNS)
        for k, (ones, tokens) in enumerate(front):
            race.offer_values(member(ones, tokens, seed=seed + k))
        lane = race.lane(seed)
        values = member(*candidate, seed=seed + 50)
        for index in lane.order[:seen]:
            lane.add(index, [values[0][index], values[1][index]])
        delta, enough = DEFAULT_POLICY.delta, 2 * DEFAULT_POLICY.delta
        exact, short = exact_outlook(lane), lane._outlook(enough=enough)
        if exact < delta:
            assert short < delta  # stopped either way
        elif exact < enough:
            assert short == pytest.approx(exact, rel=1e-9, abs=1e-12)  # the in-flight share uses it
        else:
            assert short >= enough
        assert lane._outlook() == pytest.approx(exact, rel=1e-9, abs=1e-12) or exact < delta


def graded_member(quality: float, tokens: float, seed: int = 1) -> tuple[list[float], list[float]]:
    """Token-F1-like scores (1, partly right, or 0) with mean about ``quality``, and tokens about ``tokens``."""
    rng = random.Random(seed)
    scores = []
    for _ in range(N):
        draw = rng.random()
        scores.append(
            1.0 if draw < 0.7 * quality else rng.choice([0.4, 0.5, 0.67, 0.8]) if draw < 0.7 * quality + 0.3 else 0.0
        )
    return scores, [tokens + rng.uniform(-5, 5) for _ in range(N)]


class TestGradedScores:
    def test_a_dominated_graded_candidate_is_stopped_early(self) -> None:
        race = race_with(graded_member(0.8, 100))
        stops = [feed(race.lane(t), graded_member(0.2, 160, seed=10 + t)) for t in range(10)]
        assert all(s is not None and s < N / 2 for s in stops), stops

    def test_a_better_graded_candidate_is_never_stopped(self) -> None:
        race = race_with(graded_member(0.4, 100))
        assert all(feed(race.lane(t), graded_member(0.9, 105, seed=20 + t)) is None for t in range(10))

    def test_stops_are_calibrated_on_graded_scores(self) -> None:
        """Of the candidates stopped, fewer than delta would have ended on the front (not dominated)."""
        rng = random.Random(0)
        stopped = would_have_stayed = 0
        for number in range(300):
            quality, tokens = rng.uniform(0.4, 0.7), rng.uniform(80, 120)
            front = graded_member(quality, tokens, seed=1000 + number)
            candidate = graded_member(quality + rng.uniform(-0.3, 0.1), tokens + rng.uniform(-5, 40), seed=number)
            race = race_with(front)
            if feed(race.lane(number), candidate) is not None:
                stopped += 1
                means = race.means(candidate)
                would_have_stayed += not dominates(race.means(front), means) and race.means(front) != means
        assert stopped > 100
        assert would_have_stayed / stopped < DEFAULT_POLICY.delta


def shuffled(n: int, seed: int = 0) -> list[float]:
    data = toy_dataset(n)
    random.Random(seed).shuffle(data)
    return data


class TestInAStudy:
    @pytest.mark.parametrize("objectives", [("score", "tokens"), ("score", "latency"), ("score", "cost", "tokens")])
    def test_the_default_search_races_several_objectives(self, objectives: tuple[str, ...]) -> None:
        program = ToyProgram()
        study = create_study(storage=optuna.storages.InMemoryStorage(), objectives=objectives, seed=0)
        study.optimize(program, shuffled(N), toy_metric, n_trials=30)
        raced = [t for t in study.trials if t.raced_out]
        assert raced, "trials unlikely to end on the front were stopped"
        assert all(t.state == "pruned" and set(t.estimated_values or {}) == set(objectives) for t in raced)
        assert program.counter.count == sum(t.examples_evaluated for t in study.trials) < 30 * N
        for trial in study.optuna_study.trials:
            record = TrialRecord.of(trial)
            if trial.state == optuna.trial.TrialState.COMPLETE and record is not None:
                assert set(record.example_values) == set(objectives) - {"score"}
                assert all(len(v) == N for v in record.example_values.values())

    def test_the_sampler_sees_raced_trials_complete_with_their_estimates(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), objectives=("score", "tokens"), seed=0)
        study.optimize(ToyProgram(), shuffled(N), toy_metric, n_trials=20)
        sampler = study.optuna_study.sampler
        trial = study.optuna_study.ask()
        view, _ = sampler._view(study.optuna_study, study.optuna_study.trials[trial.number])  # type: ignore[attr-defined]
        seen = {t.number: t for t in view.get_trials(deepcopy=False)}
        for result in study.trials:
            if result.raced_out:
                assert seen[result.number].state == optuna.trial.TrialState.COMPLETE
                assert seen[result.number].values == list((result.estimated_values or {}).values())

    def test_the_front_found_matches_evaluating_everything(self) -> None:
        """Racing saves calls, and the front it finds is as good: every fully evaluated front point is matched."""
        raced = create_study(storage=optuna.storages.InMemoryStorage(), objectives=("score", "tokens"), seed=3)
        raced_program = ToyProgram()
        raced.optimize(raced_program, shuffled(N), toy_metric, n_trials=40)
        best_score = max(t.values["score"] for t in raced.pareto_front())
        cheapest = min(t.values["tokens"] for t in raced.pareto_front())
        assert best_score >= 0.9 and cheapest <= 25, "both ends of the trade-off were found"
        assert raced_program.counter.count < 40 * N
