"""Racing with many calls in flight: LLM calls paid per example the race actually scores.

With ``max_concurrency > 1`` several examples of a trial are in flight when the race stops it.
stacktune's runner follows the study's plan: it lowers the examples in flight as the trial's
odds fall, and when the race stops the trial it starts nothing more and records what lands.
The comparison strategy is what an adapter with a loop of its own gets (and what stacktune did
before): the race's decision is raised from ``on_result`` and the answers in flight are thrown
away. Both run side by side in one process on a recorded table, each example served after a
small delay (a local model answering), so the figures are the ratio measured in one run.

    .venv/bin/python benchmarks/race_concurrency.py                 # sentiment, concurrency 1, 4, 8
    .venv/bin/python benchmarks/race_concurrency.py --trials 60 --seeds 3
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import Counter, ReplayProgram, Table, recorded_score

import stacktune
from stacktune.evaluation import EvaluationPlan, current_plan, planned


class Delayed(ReplayProgram):
    """A replay whose every example takes ``delay`` seconds (and a little jitter), as a served model would."""

    def __init__(self, *args: Any, delay: float = 0.002, follow_plan: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.follow_plan = follow_plan

    def apply_configuration(self, configuration: Mapping[str, object]) -> Delayed:
        applied = super().apply_configuration(configuration)
        return Delayed(
            self.table,
            applied.configuration,
            counter=self.counter,
            numeric=self.numeric,
            delay=self.delay,
            follow_plan=self.follow_plan,
        )

    def evaluate(
        self, dataset: Sequence[object], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> stacktune.Evaluation:
        def delayed_metric(example: object, prediction: object) -> float:
            time.sleep(self.delay * (0.5 + random.random()))
            return recorded_score(example, prediction)

        if self.follow_plan:
            return super().evaluate(dataset, delayed_metric, on_result=on_result, max_concurrency=max_concurrency)
        outer = current_plan()  # the same order, but the study's stop is not followed: in-flight answers are lost
        with planned(EvaluationPlan(order=outer.order if outer is not None else None)):
            return super().evaluate(dataset, delayed_metric, on_result=on_result, max_concurrency=max_concurrency)


@dataclass
class Figures:
    calls: int = 0
    scored: int = 0
    raced: int = 0

    @property
    def per_scored(self) -> float:
        return self.calls / self.scored if self.scored else float("nan")


def run(table: Table, *, concurrency: int, follow_plan: bool, trials: int, seed: int) -> Figures:
    counter = Counter()
    program = Delayed(table, counter=counter, follow_plan=follow_plan)
    dataset = list(range(table.n_examples))
    random.Random(seed).shuffle(dataset)
    study = stacktune.create_study(storage=optuna.storages.InMemoryStorage(), seed=seed, load_if_exists=False)
    study.optimize(
        program,
        dataset,
        recorded_score,
        n_trials=trials,
        max_concurrency=concurrency,
        show_progress_bar=False,
        baseline=False,
    )
    return Figures(
        calls=counter.count,
        scored=sum(t.examples_evaluated for t in study.trials),
        raced=sum(t.estimated_score is not None for t in study.trials),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default="sentiment")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--concurrency", default="1,4,8")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = Table.load(args.table)
    print(f"## {table.name}: {args.trials} trials x {args.seeds} seeds; calls per scored example\n")
    print(
        "| concurrency | stacktune: calls | scored | calls/scored | in flight thrown away: calls | scored | "
        "calls/scored |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in (int(c) for c in args.concurrency.split(",")):
        ours, theirs = Figures(), Figures()
        for seed in range(args.seeds):
            for total, follow in ((ours, True), (theirs, False)):
                figures = run(table, concurrency=concurrency, follow_plan=follow, trials=args.trials, seed=seed)
                total.calls += figures.calls
                total.scored += figures.scored
                total.raced += figures.raced
        print(
            f"| {concurrency} | {ours.calls} | {ours.scored} | {ours.per_scored:.2f} | {theirs.calls} | "
            f"{theirs.scored} | {theirs.per_scored:.2f} |"
        )


if __name__ == "__main__":
    main()
