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
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from stacktune.racing import Race, RacingPolicy

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=40, help="examples per trial")
    parser.add_argument("--trials", type=int, default=5, help="timed trials per strategy and storage")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
