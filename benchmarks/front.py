"""The multi-objective comparison: LLM calls until the front found covers 95 % of the true front.

On a recorded table every configuration's true objective values are known (its means over all
the table's examples: score, and tokens or latency per example). A strategy's *front found* is
the set of configurations it evaluated in full; after each trial we measure the hypervolume
that front covers, as a share of the table's true front's hypervolume (both objectives scaled
to the table's range, the reference point just past the worst configuration). Printed per
strategy: the median LLM calls until the share first reaches 95 %, the ratio to the best of the
strategies that evaluate every trial in full (random, TPE, NSGA-II) with a paired bootstrap
interval, and the share of seeds that get there within the budget.

    .venv/bin/python benchmarks/compare.py --front score,tokens --seeds 40 --workers 2
"""

from __future__ import annotations

import functools
import math
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import optuna
from compare import Run, Summary
from replay import Counter, ReplayProgram, Table, recorded_score

import stacktune

TARGET = 0.95

#: Objective name -> (direction, per-example values of one table row).
OBJECTIVES: dict[str, tuple[str, Callable[[Table, int], list[float]]]] = {
    "score": ("maximize", lambda table, row: table.scores[row]),
    "tokens": (
        "minimize",
        lambda table, row: [
            float(i + o) for i, o in zip(table.input_tokens[row], table.output_tokens[row], strict=True)
        ],
    ),
    "latency": ("minimize", lambda table, row: table.latency[row]),
}


@dataclass(frozen=True)
class FrontTable:
    """A table seen on two objectives: each configuration's true point, scaled, and the true front's hypervolume."""

    table: Table
    objectives: tuple[str, str]
    points: tuple[tuple[float, float], ...]  # per configuration, scaled to [0, 1], lower is better on both
    true_volume: float

    @classmethod
    def of(cls, table: Table, objectives: Sequence[str]) -> FrontTable:
        if len(objectives) != 2 or any(o not in OBJECTIVES for o in objectives):
            raise ValueError(f"give two objectives among {sorted(OBJECTIVES)}, got {list(objectives)}")
        raw = []
        for row in range(len(table.configurations)):
            point = []
            for name in objectives:
                direction, values = OBJECTIVES[name]
                mean = statistics.fmean(values(table, row))
                point.append(-mean if direction == "maximize" else mean)
            raw.append(point)
        lows = [min(p[j] for p in raw) for j in range(2)]
        highs = [max(p[j] for p in raw) for j in range(2)]
        points = tuple(
            tuple((p[j] - lows[j]) / (highs[j] - lows[j]) if highs[j] > lows[j] else 0.0 for j in range(2)) for p in raw
        )
        return cls(table, (objectives[0], objectives[1]), points, hypervolume(points))  # type: ignore[arg-type]


def hypervolume(points: Iterable[tuple[float, float]], reference: tuple[float, float] = (1.01, 1.01)) -> float:
    """The area dominated by ``points`` (both minimized) up to ``reference``."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(set(points)):
        if x < reference[0] and y < reference[1] and (not front or y < front[-1][1]):
            front.append((x, y))
    area = 0.0
    for i, (x, y) in enumerate(front):
        right = front[i + 1][0] if i + 1 < len(front) else reference[0]
        area += (right - x) * (reference[1] - y)
    return area


class FrontRun(Run):
    """One strategy on one table with one seed; its trace holds (calls so far, share of the true front's volume).

    ``calls_to(share)`` and ``final()`` are :class:`compare.Run`'s, read on that share.
    """


def _sampler(name: str, seed: int) -> optuna.samplers.BaseSampler | None:
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe-full":
        return optuna.samplers.TPESampler(multivariate=True, seed=seed)
    if name == "nsga2-full":
        return optuna.samplers.NSGAIISampler(population_size=10, seed=seed)
    return None  # stacktune's default search


STRATEGIES = ("random", "tpe-full", "nsga2-full", "stacktune")
FULL = ("random", "tpe-full", "nsga2-full")


def run_front(front: FrontTable, strategy: str, seed: int, budget: int) -> FrontRun:
    """One study on the replayed table; the front found is the configurations evaluated in full."""
    table = front.table
    counter = Counter()
    program = ReplayProgram(table, counter=counter)
    study = stacktune.create_study(
        storage=optuna.storages.InMemoryStorage(),
        objectives=front.objectives,
        sampler=_sampler(strategy, seed),
        seed=seed,
        load_if_exists=False,
    )
    run = FrontRun(strategy, seed, budget)
    found: list[tuple[float, float]] = []

    def callback(_: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        run.trials += 1
        if trial.state == optuna.trial.TrialState.COMPLETE:
            found.append(front.points[table.index(trial.params)])
        run.trace.append((counter.count, hypervolume(found) / front.true_volume))
        if counter.count >= budget:
            study.stop()

    dataset = list(range(table.n_examples))
    random.Random(10_000 + seed).shuffle(dataset)
    study.optimize(
        program, dataset, recorded_score, n_trials=budget, callbacks=[callback], show_progress_bar=False, baseline=False
    )
    return run


#: A strategy's figures over seeds: :class:`compare.Summary`, whose ``final`` (and ``final_relative``)
#: is the mean share of the true front's volume found when the budget is spent.
FrontSummary = Summary


def _run_one(args: tuple[str, tuple[str, str], str, int, int]) -> FrontRun:
    table_name, objectives, strategy, seed, budget = args
    return run_front(_front(table_name, objectives), strategy, seed, budget)


@functools.lru_cache(maxsize=16)
def _front(table_name: str, objectives: tuple[str, str]) -> FrontTable:
    return FrontTable.of(Table.load(table_name), objectives)


def compare_front(
    table_name: str,
    objectives: Sequence[str],
    *,
    seeds: Iterable[int],
    budget: int | None = None,
    strategies: Sequence[str] = STRATEGIES,
    workers: int = 1,
) -> tuple[FrontTable, list[FrontSummary]]:
    """Every strategy on every seed; one summary per strategy."""
    pair = (objectives[0], objectives[1])
    front = _front(table_name, pair)
    budget = budget or len(front.table.configurations) * front.table.n_examples
    seeds = list(seeds)
    summaries = []
    for strategy in strategies:
        start = time.perf_counter()
        jobs = [(table_name, pair, strategy, seed, budget) for seed in seeds]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                runs = list(pool.map(_run_one, jobs))
        else:
            runs = [_run_one(job) for job in jobs]
        share = statistics.fmean(r.final() for r in runs)  # already relative to the true front
        summaries.append(
            FrontSummary(
                strategy=strategy,
                calls=tuple(r.calls_to(TARGET) for r in runs),
                final=share,
                final_relative=share,
                trials=statistics.fmean(r.trials for r in runs),
                seconds=time.perf_counter() - start,
            )
        )
    return front, summaries


def render_front(
    front: FrontTable,
    summaries: Sequence[FrontSummary],
    n_seeds: int,
    interval: Callable[[Sequence[float], Sequence[float]], tuple[float, float] | None],
) -> str:
    """A markdown table; the ratio is to the best strategy that evaluates every trial in full."""
    full = [s for s in summaries if s.strategy in FULL and math.isfinite(s.median_calls)]
    best = min(full, key=lambda s: s.median_calls) if full else None
    table = front.table
    lines = [
        f"## {table.name}, {' x '.join(front.objectives)}: {len(table.configurations)} configurations x "
        f"{table.n_examples} examples; {n_seeds} seeds; target {TARGET:.0%} of the true front's hypervolume",
        "",
        f"| strategy | median calls to {TARGET:.0%} | ratio to the best full ({best.strategy if best else '-'}) "
        f"| 90% interval | success | final share | trials | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ratio = bounds_text = "-"
        if best is not None and math.isfinite(s.median_calls):
            ratio = f"{s.median_calls / best.median_calls:.2f}"
            bounds = interval(s.calls, best.calls) if s is not best else None
            if bounds is not None:
                bounds_text = "-".join(f"{b:.2f}" if math.isfinite(b) else "never" for b in bounds)
        calls = f"{s.median_calls:.0f}" if math.isfinite(s.median_calls) else "never"
        lines.append(
            f"| {s.strategy} | {calls} | {ratio} | {bounds_text} | {s.success:.0%} | {s.final:.1%} "
            f"| {s.trials:.0f} | {s.seconds:.0f} |"
        )
    return "\n".join(lines)


__all__ = [
    "STRATEGIES",
    "FrontRun",
    "FrontSummary",
    "FrontTable",
    "compare_front",
    "hypervolume",
    "render_front",
    "run_front",
]
