"""What reporting one example's score and deciding whether to prune costs, side by side.

    .venv/bin/python benchmarks/overhead_per_example.py [--examples 40] [--trials 5]

For every strategy and storage (in-memory, sqlite file), a study gets a history of 20
finished trials with 0/1 per-example scores, then new trials are fed example by example,
exactly as ``stacktune.Study.optimize`` feeds them:

- Optuna's pruners (Median, SuccessiveHalving, Wilcoxon): ``trial.report`` (a storage
  write) and ``trial.should_prune()`` after every example (the running mean, or for
  Wilcoxon the example's own score, as ``Study.optimize`` reports them);
- stacktune's default (racing): ``Lane.add`` after every example, decided in memory; a
  stopped trial costs one storage write (``Study.optimize`` writes its record with the
  estimate; here one intermediate value stands in for it, the same single write), counted
  spread over the trial's examples.

Pruning decisions are ignored so every example pays for a full check (stacktune's race
is set to stop only once the candidate cannot win any more, which makes it check after every
example until then: its worst case; the examples after that are not fed, as a stopped trial
evaluates no more). scipy (Wilcoxon) is imported before timing starts. Printed: the mean and
the slowest cost per example in milliseconds.

A second table times the whole per-example path of one trial, side by side in one run:
``stacktune.evaluate_examples`` serving instant answers (a recorded score and usage, as a
replay would) with the study's plan and ``on_result``, (1) with no race (plain evaluation),
(2) with the single-objective race (``RaceStopper``: ``Lane.add``) and (3) with the race on
several objectives (``FrontStopper``: each example's objective values, ``FrontLane.add``
against every front member) for score x tokens with 1, 5 and 10 members on the front and
for score x tokens x latency. The race is set to never stop (every example pays a check); the
candidate trails each member, so the bound is computed after every example. A never-stopping
race lets the bound be cut short after one cheap chance per member, so each front path is also
timed with the bound summed in full (every objective's chance against every member, the exact
0/1 one included: the worst case, which a real race pays only when the bound is near
``delta``). Timed from the first example's result to the last one's (a trial's set-up and summary,
paid once whether it races or not, are left out), in the thread's CPU time (``time.thread_time``:
one thread serves every example), so a busy machine inflates it less than wall time. Printed:
microseconds per example, the race's own cost (the path minus plain evaluation) and the ratios
to plain evaluation and to the single-objective race.

A third table times the race on several objectives where it runs for real: stacktune's default
search on the recorded tables (benchmarks/replay.py: the same studies as ``compare.py --front``),
score x tokens, a few seeds per table. Every ``FrontStopper.check`` (the race's whole work per
example: reading the example's objective values, pairing them with every front member, the
bound) is timed, side by side with the same studies run with the bound summed in full at every
check (how the race decided before the bound was cut short: the same decisions, so the same
trials and examples). Timed in the thread's CPU time (``time.thread_time``), so a busy machine
inflates it less than wall time. Printed: microseconds per example fed to the race, mean and slowest.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from stacktune import BUILTIN_OBJECTIVES, Usage, evaluate_examples, record_usage
from stacktune.evaluation import EvaluationPlan, planned
from stacktune.racing import Race, RacingPolicy
from stacktune.racing_front import FrontRace
from stacktune.study._trials import FrontStopper, Landed, RaceStopper

sys.path.insert(0, str(Path(__file__).resolve().parent))  # front.py, replay.py
optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

HISTORY = 20


def scores_for(rng: random.Random, quality: float, n: int) -> list[float]:
    return [1.0 if rng.random() < quality else 0.0 for _ in range(n)]


def report(trial: optuna.Trial, index: int, score: float, total: float, per_example: bool) -> None:
    """One example's report as Study.optimize makes it: the score itself (Wilcoxon) or the running mean."""
    if per_example:
        trial.report(score, step=index)
    else:
        trial.report(total / (index + 1), step=index + 1)


def report_all(trial: optuna.Trial, scores: Sequence[float], per_example: bool) -> None:
    total = 0.0
    for index, score in enumerate(scores):
        total += score
        report(trial, index, score, total, per_example)


def with_history(
    storage: Any, pruner: optuna.pruners.BasePruner, n: int, per_example: bool, rng: random.Random
) -> tuple[optuna.Study, list[float]]:
    """A study with finished trials reported like Study.optimize does; returns it and the best scores."""
    study = optuna.create_study(
        storage=storage, direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    best: list[float] = []
    for _ in range(HISTORY):
        trial = study.ask()
        scores = scores_for(rng, rng.uniform(0.3, 0.8), n)
        report_all(trial, scores, per_example)
        study.tell(trial, statistics.fmean(scores))
        if statistics.fmean(scores) > (statistics.fmean(best) if best else -1.0):
            best = scores
    return study, best


def time_optuna(
    storage: Any, pruner: optuna.pruners.BasePruner, n: int, trials: int, per_example: bool, rng: random.Random
) -> list[float]:
    """Seconds per example of report + should_prune, one value per example checked."""
    study, _ = with_history(storage, pruner, n, per_example, rng)
    costs: list[float] = []
    for _ in range(trials):
        trial = study.ask()
        total = 0.0
        for index, score in enumerate(scores_for(rng, 0.5, n)):
            total += score
            start = time.perf_counter()
            report(trial, index, score, total, per_example)
            trial.should_prune()
            costs.append(time.perf_counter() - start)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return costs


def time_racing(storage: Any, n: int, trials: int, rng: random.Random) -> list[float]:
    """Seconds per example of the race's in-memory decision, plus its one write per trial spread out."""
    study, best = with_history(storage, optuna.pruners.NopPruner(), n, False, rng)
    # stops only when the candidate can no longer win (probability 0): a bound after every example till then
    race = Race(n, RacingPolicy(delta=1e-300, min_examples=1))
    race.offer(best)
    costs: list[float] = []
    for _ in range(trials):
        trial = study.ask()
        lane = race.lane(trial.number)
        # close behind the incumbent (agrees on most examples): the race computes its bound almost every time
        scores = [b if rng.random() < 0.85 else float(rng.random() < 0.4) for b in best]
        per_trial: list[float] = []
        for index in lane.order:
            start = time.perf_counter()
            stop = lane.add(index, scores[index])
            per_trial.append(time.perf_counter() - start)
            if stop:  # Study.optimize ends the trial here: no more examples to pay for
                break
        start = time.perf_counter()
        trial.report(lane.estimate(), step=lane.seen)  # stands in for the one write a stopped trial costs
        write = time.perf_counter() - start
        costs.extend(c + write / len(per_trial) for c in per_trial)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return costs


# -- the race's path per example, side by side with plain evaluation ----------------------------------
NEVER_STOP = RacingPolicy(delta=1e-300, min_examples=1, same_prior=0.0)


@dataclass(frozen=True)
class Recorded:
    """One trial's answers, served instantly: per example a score, tokens and latency."""

    scores: list[float]
    tokens: list[int]
    latency: list[float]


def recorded(rng: random.Random, n: int, quality: float, tokens: float, graded: bool) -> Recorded:
    """A trial whose means are exactly ``quality`` (score) and ``tokens`` (+3 output tokens), shuffled."""
    if graded:  # mean exactly quality: pairs quality -/+ a spread, clipped inside [0, 1]
        spread = min(quality, 1.0 - quality, 0.3)
        scores = [quality + (spread if i % 2 else -spread) for i in range(n)]
    else:
        ones = round(quality * n)
        scores = [1.0] * ones + [0.0] * (n - ones)
    token_counts = [round(tokens) + (5 if i % 2 else -5) for i in range(n)]
    latency = [0.1 + (0.05 if i % 2 else -0.05) for i in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    return Recorded([scores[i] for i in order], [token_counts[i] for i in order], [latency[i] for i in order])


def serve(trial: Recorded, stopper: Any | None, order: Sequence[int]) -> tuple[int, float]:
    """One trial through the runner as ``Study.optimize`` runs it: examples served, seconds per example.

    Per example: from the first example's result to the last one's, over the examples between, so
    a trial's set-up and its summary (paid once per trial, raced or not) are left out.
    """
    landed = Landed(len(trial.scores))
    served = [0]
    marks: list[float] = []

    def run_example(index: int) -> float:
        served[0] += 1
        record_usage(
            Usage(calls=1, input_tokens=trial.tokens[index], output_tokens=3, latencies=(trial.latency[index],))
        )
        return trial.scores[index]

    def on_result(index: int, score: float) -> None:
        try:
            if stopper is not None:
                stopper.check(landed, index, score)
        finally:
            marks.append(time.thread_time())  # one thread serves them all (max_concurrency=1)

    plan = EvaluationPlan(order=tuple(order), on_example=landed.land)
    with planned(plan):
        try:
            evaluate_examples(list(range(len(trial.scores))), run_example, _identity, on_result=on_result)
        except optuna.TrialPruned:
            pass  # raced out: Study.optimize records the trial; the runner served no more
    per_example = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else 0.0
    return served[0], per_example


def _identity(example: object, prediction: object) -> float:
    return float(prediction)  # type: ignore[arg-type]


def _values(trial: Recorded, objectives: Sequence[str]) -> list[list[float]]:
    columns = {
        "score": trial.scores,
        "tokens": [float(t + 3) for t in trial.tokens],
        "latency": trial.latency,
    }
    return [list(columns[name]) for name in objectives]


def time_paths(n: int, trials: int, rng: random.Random, *, graded: bool = False) -> dict[str, list[float]]:
    """Seconds per example of each path (one value per timed trial), measured interleaved trial by trial.

    Paths: plain evaluation; the single-objective race; the race on score x tokens with a front of
    1, 5 and 10 members; on score x tokens x latency with 5 members.
    """
    members = [recorded(rng, n, 0.5 + 0.04 * k, 80.0 + 12 * k, graded) for k in range(10)]
    race = Race(n, NEVER_STOP)
    race.offer(members[0].scores)  # the candidate trails it closely: a check after (almost) every example
    fronts: dict[str, tuple[tuple[str, ...], int]] = {
        "race on score x tokens, 1 on the front": (("score", "tokens"), 1),
        "race on score x tokens, 5 on the front": (("score", "tokens"), 5),
        "race on score x tokens, 10 on the front": (("score", "tokens"), 10),
        "race on score x tokens x latency, 5 on the front": (("score", "tokens", "latency"), 5),
    }
    races: dict[str, tuple[FrontRace, list[Any]]] = {}
    for name, (objectives, size) in fronts.items():
        signs = [1 if BUILTIN_OBJECTIVES[o].direction == "maximize" else -1 for o in objectives]
        front = FrontRace(n, signs, NEVER_STOP)
        for member in members[:size]:
            front.offer_values(_values(member, objectives))
        assert len(front.front) == size, f"{name}: every member must be on the front"
        races[name] = (front, [BUILTIN_OBJECTIVES[o] for o in objectives])
    costs: dict[str, list[float]] = {PLAIN: [], SINGLE: [], **{name: [] for name in races}}
    costs.update({name + IN_FULL: [] for name in races})
    for number in range(trials):
        # trails every member: a bit worse and dearer than the cheapest, so every check computes the bound
        candidate = recorded(rng, n, 0.45, 100.0, graded)
        paths: list[tuple[str, Any]] = [(PLAIN, None), (SINGLE, RaceStopper(race.lane(number)))]
        paths += [(name, FrontStopper(front.lane(number), objs)) for name, (front, objs) in races.items()]
        paths += [
            (name + IN_FULL, FrontStopper(summing_in_full(front.lane(number)), objs))
            for name, (front, objs) in races.items()
        ]
        for name, stopper in paths:
            _, per_example = serve(candidate, stopper, race.order(number))
            costs[name].append(per_example)
    return costs


def summing_in_full(lane: Any) -> Any:
    """The lane, its bound summed over every objective of every member at each check (the worst case)."""
    lane._outlook = types.MethodType(lambda self, enough=math.inf: _full_sum(self), lane)
    return lane


IN_FULL = ", in full"
PLAIN = "plain evaluation (no race)"
SINGLE = "single-objective race"


def print_paths(n: int, trials: int, graded: bool) -> None:
    costs = time_paths(n, trials, random.Random(1), graded=graded)
    plain = statistics.median(costs[PLAIN])
    single = statistics.median(costs[SINGLE])
    print(
        f"\nThe per-example path of one trial, {n} examples, {'graded' if graded else '0/1'} scores, "
        f"{trials} trials per path (medians over trials, microseconds per example)"
    )
    print(f"| {'path':<58} | {'us/example':>10} | {'race only us':>12} | {'x plain':>7} | {'x single race':>13} |")
    print(f"|{'-' * 60}|{'-' * 12}|{'-' * 14}|{'-' * 9}|{'-' * 15}|")
    for name, values in costs.items():
        median = statistics.median(values)
        race_only = "-" if name == PLAIN else f"{(median - plain) * 1e6:.1f}"
        print(
            f"| {name:<58} | {median * 1e6:>10.1f} | {race_only:>12} | {median / plain:>7.2f} "
            f"| {median / single:>13.2f} |",
            flush=True,
        )


# -- the race on several objectives in replayed studies --------------------------------------------------
def time_replayed(table_name: str, seeds: Sequence[int], budget: int, *, full_sum: bool) -> list[float]:
    """Seconds of each ``FrontStopper.check`` in stacktune's studies on one recorded table (score x tokens)."""
    import front as front_benchmark

    from stacktune.racing_front import FrontLane
    from stacktune.study import _trials

    checks: list[float] = []
    original_check, original_outlook = _trials.FrontStopper.check, FrontLane._outlook

    def timed_check(self: FrontStopper, landed: Landed, index: int, score: float) -> None:
        start = time.thread_time()  # CPU time of this thread: what the check costs, not waits for a busy CPU
        try:
            original_check(self, landed, index, score)
        finally:
            checks.append(time.thread_time() - start)

    def summed_in_full(self: FrontLane, enough: float = math.inf) -> float:
        return _full_sum(self)

    _trials.FrontStopper.check = timed_check  # type: ignore[method-assign]
    if full_sum:
        FrontLane._outlook = summed_in_full  # type: ignore[method-assign]
    try:
        table = front_benchmark._front(table_name, ("score", "tokens"))
        for seed in seeds:
            front_benchmark.run_front(table, "stacktune", seed, budget)
    finally:
        _trials.FrontStopper.check = original_check  # type: ignore[method-assign]
        FrontLane._outlook = original_outlook  # type: ignore[method-assign]
    return checks


def _full_sum(lane: Any) -> float:
    """The bound as it was computed before: every objective's chance against every member, summed."""
    return min(min(1.0, math.fsum(p.chance() for p in pairings)) for pairings in lane.members)


def print_replayed(tables: Sequence[str], seeds: Sequence[int], budget: int) -> None:
    print(
        f"\nThe race on score x tokens in stacktune's studies on the recorded tables ({len(seeds)} seeds each, "
        f"{budget} calls per study; microseconds per example checked)"
    )
    print(
        f"| {'table':<10} | {'examples':>8} | {'cut short us':>12} | {'slowest':>8} | {'summed in full us':>17} "
        f"| {'slowest':>8} | {'x':>5} |"
    )
    print(f"|{'-' * 12}|{'-' * 10}|{'-' * 14}|{'-' * 10}|{'-' * 19}|{'-' * 10}|{'-' * 7}|")
    for name in tables:
        full = time_replayed(name, seeds, budget, full_sum=True)
        short = time_replayed(name, seeds, budget, full_sum=False)
        print(
            f"| {name:<10} | {len(short):>8} | {statistics.fmean(short) * 1e6:>12.1f} | {max(short) * 1e6:>8.0f} "
            f"| {statistics.fmean(full) * 1e6:>17.1f} | {max(full) * 1e6:>8.0f} "
            f"| {statistics.fmean(full) / statistics.fmean(short):>5.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=40, help="examples per trial")
    parser.add_argument("--trials", type=int, default=5, help="timed trials per strategy and storage")
    parser.add_argument("--path-trials", type=int, default=50, help="timed trials per path in the second table")
    parser.add_argument(
        "--path-examples", type=int, default=40, help="examples per trial in the second table (at least 30)"
    )
    parser.add_argument(
        "--tables", default="sentiment,headlines,emotions,trivia", help="recorded tables for the third table"
    )
    parser.add_argument("--replay-seeds", type=int, default=3, help="seeds per table in the third table")
    parser.add_argument("--replay-budget", type=int, default=4000, help="LLM calls per replayed study")
    parser.add_argument("--only-replayed", action="store_true", help="print the third table only")
    parser.add_argument("--only-paths", action="store_true", help="print the second and third tables only")
    args = parser.parse_args()
    tables = [t for t in args.tables.split(",") if t]
    if args.only_replayed:
        print_replayed(tables, range(args.replay_seeds), args.replay_budget)
        return
    if args.only_paths:
        for graded in (False, True):
            print_paths(max(30, args.path_examples), args.path_trials, graded)
        print_replayed(tables, range(args.replay_seeds), args.replay_budget)
        return
    n, trials = args.examples, args.trials
    import scipy.stats  # noqa: F401 - WilcoxonPruner imports it lazily: keep the import out of the timings

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def sqlite() -> str:
            return f"sqlite:///{Path(tmp) / f'overhead{next(counter)}.db'}"

        storages: dict[str, Callable[[], Any]] = {"in-memory": optuna.storages.InMemoryStorage, "sqlite": sqlite}
        strategies: dict[str, Callable[[Any, random.Random], list[float]]] = {
            "stacktune default (racing)": lambda s, r: time_racing(s, n, trials, r),
            "MedianPruner": lambda s, r: time_optuna(s, optuna.pruners.MedianPruner(), n, trials, False, r),
            "SuccessiveHalvingPruner": lambda s, r: time_optuna(
                s, optuna.pruners.SuccessiveHalvingPruner(min_resource=5), n, trials, False, r
            ),
            "WilcoxonPruner (n_startup_steps=14)": lambda s, r: time_optuna(
                s, optuna.pruners.WilcoxonPruner(n_startup_steps=14), n, trials, True, r
            ),
            "WilcoxonPruner (default)": lambda s, r: time_optuna(
                s, optuna.pruners.WilcoxonPruner(), n, max(1, trials // 5), True, r
            ),
        }
        print(
            f"{n} examples per trial, 0/1 scores, {HISTORY} finished trials in the study; "
            f"milliseconds per example (report + decide)"
        )
        print(f"| {'strategy':<36} | {'storage':<9} | {'mean ms':>9} | {'median ms':>9} | {'slowest ms':>10} |")
        print(f"|{'-' * 38}|{'-' * 11}|{'-' * 11}|{'-' * 11}|{'-' * 12}|")
        for name, measure in strategies.items():
            for storage_name, storage in storages.items():
                costs = measure(storage(), random.Random(0))
                print(
                    f"| {name:<36} | {storage_name:<9} | {statistics.fmean(costs) * 1e3:>9.3f} "
                    f"| {statistics.median(costs) * 1e3:>9.3f} | {max(costs) * 1e3:>10.1f} |",
                    flush=True,
                )
    for graded in (False, True):  # ten members with distinct means need enough examples: at least 30
        print_paths(max(30, args.path_examples), args.path_trials, graded)
    print_replayed(tables, range(args.replay_seeds), args.replay_budget)


if __name__ == "__main__":
    main()
