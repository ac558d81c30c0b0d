"""Compare search strategies on recorded tables: how many LLM calls to find a good configuration?

    .venv/bin/python benchmarks/compare.py --workers 2     # every table (trivia: graded), 100 seeds each
    .venv/bin/python benchmarks/compare.py --seeds 8       # a quick look
    .venv/bin/python benchmarks/compare.py --categorical   # every variable categorical

Each strategy searches the replayed space (``replay.py``: no model call, every example served
is counted as one LLM call) with a budget of LLM calls, once per seed; each seed also
shuffles the example order every strategy sees. After every trial the strategy's own
incumbent (the configuration it would return now) is judged by its TRUE score: its mean
over all the table's examples. Printed per strategy:

- calls to 95 %: the median number of LLM calls until the incumbent's true score is within
  95 % of the table's best (a seed that never gets there counts as infinite);
- ratio: that median divided by TPE-full's, and its 90 % interval (a paired bootstrap over
  seeds: medians over a few dozen seeds move by about 10 % from one set of seeds to another);
- success: the share of seeds that get there within the budget;
- final: the mean true score of the incumbent when the budget is spent, relative to the best.

Strategies: random search; Optuna TPE evaluating every trial in full; TPE on random
minibatches with a periodic full evaluation of the best-averaging configuration (how DSPy's
MIPROv2 searches); TPE with Optuna's MedianPruner, SuccessiveHalvingPruner and
WilcoxonPruner (per-example scores); and stacktune's default (``Study.optimize`` with no
sampler and no pruner: racing, see ``stacktune.racing``).
"""

from __future__ import annotations

import argparse
import functools
import math
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import Counter, ReplayProgram, Table, recorded_score

import stacktune

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

TARGET = 0.95
#: The recorded tables: three with 0/1 scores (accuracy), trivia with a graded one (token F1).
TABLE_NAMES = ("sentiment", "headlines", "emotions", "trivia")


@dataclass
class Run:
    """One strategy on one table with one seed: the incumbent's true score after each trial."""

    strategy: str
    seed: int
    budget: int
    trace: list[tuple[int, float]] = field(default_factory=list)  # (calls so far, incumbent's true score)
    trials: int = 0

    def record(self, calls: int, true_score: float | None) -> None:
        self.trials += 1
        if true_score is not None:
            self.trace.append((calls, true_score))

    def calls_to(self, threshold: float) -> float:
        """LLM calls until the incumbent first reaches ``threshold`` within the budget (inf if never)."""
        for calls, score in self.trace:
            if calls > self.budget:
                break
            if score >= threshold - 1e-12:
                return float(calls)
        return math.inf

    def final(self) -> float:
        """The true score of the incumbent when the budget is spent (0 if none)."""
        within = [score for calls, score in self.trace if calls <= self.budget]
        return within[-1] if within else 0.0


# -- strategies -----------------------------------------------------------------------------
Strategy = Callable[[Table, int, int, bool], Run]


def _tpe(seed: int) -> optuna.samplers.TPESampler:
    """The TPE every TPE-based strategy uses (the same settings as stacktune's default sampler)."""
    return optuna.samplers.TPESampler(multivariate=True, seed=seed)


def _dataset(table: Table, seed: int) -> list[int]:
    order = list(range(table.n_examples))
    random.Random(10_000 + seed).shuffle(order)
    return order


def _study_run(
    name: str,
    table: Table,
    seed: int,
    budget: int,
    numeric: bool,
    *,
    sampler: optuna.samplers.BaseSampler | None,
    pruner: optuna.pruners.BasePruner | None,
) -> Run:
    """Any strategy expressed as a stacktune study (with or without Optuna's sampler/pruner)."""
    counter = Counter()
    program = ReplayProgram(table, counter=counter, numeric=numeric)
    study = stacktune.create_study(
        storage=optuna.storages.InMemoryStorage(), sampler=sampler, pruner=pruner, seed=seed, load_if_exists=False
    )
    run = Run(name, seed, budget)
    best: list[float] = [-math.inf]
    incumbent: list[float | None] = [None]

    def callback(_: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None and trial.value > best[0]:
            best[0] = trial.value
            incumbent[0] = table.true_score(trial.params)
        run.record(counter.count, incumbent[0])
        if counter.count >= budget:
            study.stop()

    study.optimize(
        program,
        _dataset(table, seed),
        recorded_score,
        n_trials=budget,
        callbacks=[callback],
        show_progress_bar=False,
        baseline=False,
    )  # search strategies only
    return run


def random_search(table: Table, seed: int, budget: int, numeric: bool) -> Run:
    return _study_run(
        "random", table, seed, budget, numeric, sampler=optuna.samplers.RandomSampler(seed=seed), pruner=None
    )


def tpe_full(table: Table, seed: int, budget: int, numeric: bool) -> Run:
    return _study_run("tpe-full", table, seed, budget, numeric, sampler=_tpe(seed), pruner=None)


def tpe_median(table: Table, seed: int, budget: int, numeric: bool) -> Run:
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10)
    return _study_run("tpe+median", table, seed, budget, numeric, sampler=_tpe(seed), pruner=pruner)


def tpe_halving(table: Table, seed: int, budget: int, numeric: bool) -> Run:
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=5, reduction_factor=3)
    return _study_run("tpe+halving", table, seed, budget, numeric, sampler=_tpe(seed), pruner=pruner)


def tpe_wilcoxon(table: Table, seed: int, budget: int, numeric: bool) -> Run:
    # From 14 examples on, scipy tests 0/1 differences with its normal approximation; below, its exact
    # permutation test takes seconds per check (see overhead_per_example.py).
    pruner = optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=14)
    with _memoized_wilcoxon():
        return _study_run("tpe+wilcoxon", table, seed, budget, numeric, sampler=_tpe(seed), pruner=pruner)


def stacktune_default(table: Table, seed: int, budget: int, numeric: bool) -> Run:
    return _study_run("stacktune", table, seed, budget, numeric, sampler=None, pruner=None)


def tpe_minibatch(
    table: Table, seed: int, budget: int, numeric: bool, *, minibatch: int = 10, full_eval_steps: int = 5
) -> Run:
    """MIPROv2's search: TPE told minibatch scores; every few trials the configuration with the best
    mean minibatch score (not yet fully evaluated) is evaluated on all examples and added to the study.
    The incumbent is the best fully evaluated configuration; the first full evaluation is the default."""
    counter = Counter()
    program = ReplayProgram(table, counter=counter, numeric=numeric)
    space = program.extract_variables()
    rng = random.Random(seed)
    dataset = _dataset(table, seed)
    run = Run("tpe-minibatch", seed, budget)
    study = optuna.create_study(direction="maximize", sampler=_tpe(seed))
    best_full = -math.inf
    incumbent: float | None = None
    minibatch_scores: dict[tuple[Any, ...], list[float]] = {}
    representative: dict[tuple[Any, ...], dict[str, Any]] = {}
    fully_evaluated: set[tuple[Any, ...]] = set()

    def full_evaluation(configuration: Mapping[str, Any]) -> None:
        nonlocal best_full, incumbent
        key = table.key(table.snap(configuration))
        fully_evaluated.add(key)
        score = program.apply_configuration(configuration).evaluate(dataset, recorded_score).score
        study.enqueue_trial(dict(configuration))  # told to TPE as a trial of its own, like the minibatch ones
        trial = study.ask()
        space.suggest(trial)
        study.tell(trial, score)
        if score > best_full:
            best_full, incumbent = score, table.true_score(configuration)
        run.record(counter.count, incumbent)

    full_evaluation(space.defaults())
    number = 0
    while counter.count < budget:
        number += 1
        trial = study.ask()
        configuration = space.suggest(trial)
        batch = rng.sample(dataset, min(minibatch, len(dataset)))
        score = program.apply_configuration(configuration).evaluate(batch, recorded_score).score
        study.tell(trial, score)
        key = table.key(table.snap(configuration))
        minibatch_scores.setdefault(key, []).append(score)
        representative.setdefault(key, dict(configuration))
        run.record(counter.count, incumbent)
        if number % full_eval_steps == 0 and counter.count < budget:
            candidates = [k for k in minibatch_scores if k not in fully_evaluated]
            if candidates:
                top = max(candidates, key=lambda k: statistics.fmean(minibatch_scores[k]))
                full_evaluation(representative[top])
    return run


@functools.lru_cache(maxsize=500_000)
def _wilcoxon_pvalue(negative: int, zero: int, positive: int, alternative: str, zero_method: str) -> float:
    import scipy.stats

    differences = [-1.0] * negative + [0.0] * zero + [1.0] * positive
    return float(scipy.stats.wilcoxon(differences, alternative=alternative, zero_method=zero_method).pvalue)


class _memoized_wilcoxon:
    """Same decisions, faster: scipy's exact Wilcoxon test memoized for differences in {-1, 0, 1}.

    On 0/1 scores the p-value of ``wilcoxon(d, zero_method="zsplit")`` depends only on how many
    differences are -1, 0 and +1, so each such case is computed once (other differences go to
    scipy as they are). The comparison would otherwise spend its minutes in scipy;
    ``overhead_per_example.py`` measures the unmemoized cost.
    """

    def __enter__(self) -> None:
        import optuna.pruners._wilcoxon as module
        import scipy.stats

        self._module = module
        self._original = getattr(module, "ss")  # noqa: B009 - a private module attribute
        original = scipy.stats.wilcoxon

        class _Result:
            def __init__(self, pvalue: float) -> None:
                self.pvalue = pvalue

        class _Stats:
            @staticmethod
            def wilcoxon(x: Sequence[float], *, alternative: str, zero_method: str) -> Any:
                values = [float(v) for v in x]
                if all(v in (-1.0, 0.0, 1.0) for v in values):
                    counts = (values.count(-1.0), values.count(0.0), values.count(1.0))
                    return _Result(_wilcoxon_pvalue(*counts, alternative, zero_method))
                return original(values, alternative=alternative, zero_method=zero_method)

        setattr(module, "ss", _Stats())  # noqa: B010

    def __exit__(self, *exc: object) -> None:
        setattr(self._module, "ss", self._original)  # noqa: B010


STRATEGIES: dict[str, Strategy] = {
    "random": random_search,
    "tpe-full": tpe_full,
    "tpe-minibatch": tpe_minibatch,
    "tpe+median": tpe_median,
    "tpe+halving": tpe_halving,
    "tpe+wilcoxon": tpe_wilcoxon,
    "stacktune": stacktune_default,
}
BASELINE = "tpe-full"


# -- summary --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """One strategy on one table over every seed."""

    strategy: str
    calls: tuple[float, ...]  # LLM calls to the target, per seed (in the order of the seeds; inf: never)
    final: float
    final_relative: float
    trials: float
    seconds: float

    @property
    def median_calls(self) -> float:
        return statistics.median(self.calls)

    @property
    def success(self) -> float:
        """The share of seeds that reach the target within the budget."""
        return sum(math.isfinite(c) for c in self.calls) / len(self.calls)


def summarize(table: Table, runs: Sequence[Run], seconds: float) -> Summary:
    threshold = TARGET * table.best_score
    calls = [r.calls_to(threshold) for r in runs]
    finals = [r.final() for r in runs]
    return Summary(
        strategy=runs[0].strategy,
        calls=tuple(calls),
        final=statistics.fmean(finals),
        final_relative=statistics.fmean(finals) / table.best_score,
        trials=statistics.fmean(r.trials for r in runs),
        seconds=seconds,
    )


def ratio_interval(
    calls: Sequence[float], baseline: Sequence[float], *, level: float = 0.9, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """A paired bootstrap interval of ``median(calls) / median(baseline)``, both measured on the same seeds.

    Resampling whole seeds keeps each seed's pair together. A resample where the baseline never
    gets there has no ratio; None when the seeds do not pair up or too many resamples have none.
    """
    n = len(calls)
    if n == 0 or len(baseline) != n:
        return None
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        bottom = statistics.median(baseline[i] for i in picks)
        if math.isfinite(bottom) and bottom > 0:
            ratios.append(statistics.median(calls[i] for i in picks) / bottom)
    tail = (1.0 - level) / 2
    if len(ratios) < resamples * (1.0 - tail):
        return None
    ratios.sort()
    return ratios[int(tail * (len(ratios) - 1))], ratios[math.ceil((1.0 - tail) * (len(ratios) - 1))]


def _run_one(args: tuple[str, str | Table, int, int, bool]) -> Run:
    name, table, seed, budget, numeric = args
    loaded = _load(table) if isinstance(table, str) else table
    return STRATEGIES[name](loaded, seed, budget, numeric)


@functools.lru_cache(maxsize=8)
def _load(name: str) -> Table:
    return Table.load(name)


def compare(
    table: Table | str,
    *,
    seeds: Iterable[int],
    budget: int | None = None,
    numeric: bool = True,
    strategies: Sequence[str] = tuple(STRATEGIES),
    workers: int = 1,
) -> tuple[Table, list[Summary]]:
    """Run every strategy on every seed; one Summary per strategy (in the given order)."""
    loaded = _load(table) if isinstance(table, str) else table
    budget = budget or default_budget(loaded)
    seeds = list(seeds)
    summaries = []
    for name in strategies:
        start = time.perf_counter()
        jobs = [(name, table, seed, budget, numeric) for seed in seeds]
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                runs = list(pool.map(_run_one, jobs))
        else:
            runs = [_run_one(job) for job in jobs]
        summaries.append(summarize(loaded, runs, time.perf_counter() - start))
    return loaded, summaries


def default_budget(table: Table) -> int:
    """The whole table's calls (every configuration on every example): what an exhaustive grid search costs.

    Smaller budgets leave TPE with full evaluation short of 95 % in many seeds, and a median of
    "never" has no ratio.
    """
    return len(table.configurations) * table.n_examples


def _fmt_calls(value: float) -> str:
    return f"{value:.0f}" if math.isfinite(value) else "never"


def render(table: Table, summaries: Sequence[Summary], budget: int, n_seeds: int) -> str:
    baseline = next((s for s in summaries if s.strategy == BASELINE), None)
    near = sum(m >= TARGET * table.best_score - 1e-12 for m in table.means)
    metric = table.meta.get("metric", "accuracy")
    lines = [
        f"## {table.name} ({metric}): {len(table.configurations)} configurations x {table.n_examples} examples, "
        f"best {table.best_score:.3f}, {near} configurations within {TARGET:.0%} of it; "
        f"budget {budget} calls, {n_seeds} seeds",
        "",
        f"| strategy | median calls to {TARGET:.0%} | ratio to {BASELINE} | 90% interval | success within budget "
        f"| final score (of best) | trials | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        ratio = interval = "-"
        if baseline is not None and math.isfinite(s.median_calls) and math.isfinite(baseline.median_calls):
            ratio = f"{s.median_calls / baseline.median_calls:.2f}"
            bounds = ratio_interval(s.calls, baseline.calls) if s is not baseline else None
            if bounds is not None:
                interval = "-".join(f"{b:.2f}" if math.isfinite(b) else "never" for b in bounds)
        lines.append(
            f"| {s.strategy} | {_fmt_calls(s.median_calls)} | {ratio} | {interval} | {s.success:.0%} "
            f"| {s.final:.3f} ({s.final_relative:.1%}) | {s.trials:.0f} | {s.seconds:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tables", default=",".join(TABLE_NAMES), help="comma-separated table names or paths (trivia is graded)"
    )
    parser.add_argument("--seeds", type=int, default=100, help="seeds per strategy and table")
    parser.add_argument("--budget", type=int, default=None, help="LLM calls per run (default: the whole table)")
    parser.add_argument("--strategies", default=None, help="comma-separated strategy names (default: all)")
    parser.add_argument("--categorical", action="store_true", help="search every variable as a Categorical")
    parser.add_argument("--workers", type=int, default=1, help="processes (the machine is shared: default 1)")
    parser.add_argument(
        "--front",
        default=None,
        help="two objectives (score,tokens or score,latency): compare on the Pareto front's hypervolume instead",
    )
    args = parser.parse_args(argv)
    if args.front:
        _main_front(args)
        return
    strategies = [s for s in (args.strategies or ",".join(STRATEGIES)).split(",") if s]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {list(STRATEGIES)}")
    for name in [t for t in args.tables.split(",") if t]:
        table, summaries = compare(
            name,
            seeds=range(args.seeds),
            budget=args.budget,
            numeric=not args.categorical,
            strategies=strategies,
            workers=args.workers,
        )
        print(render(table, summaries, args.budget or default_budget(table), args.seeds), flush=True)
        print(flush=True)


def _main_front(args: argparse.Namespace) -> None:
    from front import STRATEGIES as FRONT_STRATEGIES
    from front import compare_front, render_front

    objectives = [o for o in args.front.split(",") if o]
    asked = [s for s in args.strategies.split(",") if s] if args.strategies else list(FRONT_STRATEGIES)
    unknown = [s for s in asked if s not in FRONT_STRATEGIES]
    if unknown:
        raise SystemExit(f"unknown strategies for --front {unknown}; known: {list(FRONT_STRATEGIES)}")
    strategies = asked
    for name in [t for t in args.tables.split(",") if t]:
        front, summaries = compare_front(
            name, objectives, seeds=range(args.seeds), budget=args.budget, strategies=strategies, workers=args.workers
        )
        print(render_front(front, summaries, args.seeds, ratio_interval), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
