"""Optuna's pruners, fed through stacktune: examples they save, and whether the best configuration survives.

Each pruner runs with TPE for a fixed number of trials on a replayed table, beside TPE evaluating
every trial in full with the same seeds; both are stacktune studies (``create_study(sampler=...,
pruner=...)``), so each example's score reaches the pruner as it lands, reported the way that
makes the pruner's rule mean what it says (see ``stacktune.study._trials.PrunerStopper``).
Printed per pruner: the share of example evaluations saved, and the true score of the best
configuration found (the mean over all the table's examples of the best complete trial), as a
share of what TPE in full found.

    .venv/bin/python benchmarks/pruners.py                       # sentiment, 60 trials, 20 seeds
    .venv/bin/python benchmarks/pruners.py --table headlines --seeds 40
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import Counter, ReplayProgram, Table, recorded_score

import stacktune

PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner | None]] = {
    "none (full)": lambda: None,
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
    "percentile 25": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=5),
    "successive halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=5, reduction_factor=3),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=5, max_resource=40, reduction_factor=3),
    "threshold 0.5": lambda: optuna.pruners.ThresholdPruner(lower=0.5, n_warmup_steps=10),
    "wilcoxon": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=14),
}


@dataclass(frozen=True)
class Outcome:
    """One pruner on one seed: examples evaluated, and the true score of its best complete trial."""

    examples: int
    best_true: float


def run(table: Table, pruner_name: str, *, trials: int, seed: int) -> Outcome:
    counter = Counter()
    program = ReplayProgram(table, counter=counter)
    dataset = list(range(table.n_examples))
    random.Random(10_000 + seed).shuffle(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = stacktune.create_study(
            storage=optuna.storages.InMemoryStorage(),
            sampler=optuna.samplers.TPESampler(multivariate=True, seed=seed),
            pruner=PRUNERS[pruner_name](),
            load_if_exists=False,
        )
        study.optimize(program, dataset, recorded_score, n_trials=trials, show_progress_bar=False, baseline=False)
    return Outcome(counter.count, table.true_score(study.best.configuration))


def compare(table: Table, *, trials: int, seeds: Sequence[int]) -> list[tuple[str, float, float]]:
    """Per pruner: the share of examples saved and the best true score relative to evaluating in full."""
    full = [run(table, "none (full)", trials=trials, seed=s) for s in seeds]
    rows = []
    for name in PRUNERS:
        outcomes = full if name == "none (full)" else [run(table, name, trials=trials, seed=s) for s in seeds]
        saved = 1.0 - sum(o.examples for o in outcomes) / sum(f.examples for f in full)
        kept = statistics.fmean(o.best_true for o in outcomes) / statistics.fmean(f.best_true for f in full)
        rows.append((name, saved, kept))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default="sentiment")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = Table.load(args.table)
    print(f"## {table.name}: TPE with each pruner, {args.trials} trials x {args.seeds} seeds\n")
    print("| pruner | examples saved | best configuration's true score (of TPE in full) |")
    print("|---|---:|---:|")
    for name, saved, kept in compare(table, trials=args.trials, seeds=range(args.seeds)):
        print(f"| {name} | {saved:.0%} | {kept:.1%} |")


if __name__ == "__main__":
    main()
