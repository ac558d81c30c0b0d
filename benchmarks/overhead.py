"""What stacktune adds on top of Optuna per trial, measured side by side in one run.

The same trivial objective (three variables, no LLM) is optimized by raw Optuna
(``study.optimize(objective)``) and by ``stacktune.Study.optimize`` with the same seeded
sampler and the same kind of storage. Runs alternate so machine noise hits both;
the median wall time per trial of each and their ratio are printed.

    .venv/bin/python benchmarks/overhead.py [--trials 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

import stacktune
from stacktune import Categorical, Evaluation, Float, Int, Space, Usage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def value_of(x: float, k: int, mode: str) -> float:
    return -((x - 2.0) ** 2) - abs(k - 3) + (0.5 if mode == "b" else 0.0)


def raw_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    k = trial.suggest_int("k", 0, 8)
    mode = trial.suggest_categorical("mode", ["a", "b", "c"])
    return value_of(x, k, mode)


class Trivial:
    """The same objective as an Optimizable over a one-example dataset."""

    def __init__(self, configuration: Mapping[str, Any] | None = None) -> None:
        self.configuration = dict(configuration or {"x": 0.0, "k": 0, "mode": "a"})

    def extract_variables(self) -> Space:
        return Space([Float("x", -10.0, 10.0), Int("k", 0, 8), Categorical("mode", ["a", "b", "c"])])

    def apply_configuration(self, configuration: Mapping[str, object]) -> Trivial:
        return Trivial({**self.configuration, **configuration})

    def evaluate(
        self, dataset: Sequence[object], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> Evaluation:
        c = self.configuration
        score = value_of(float(c["x"]), int(c["k"]), str(c["mode"]))
        if on_result is not None:
            on_result(0, score)
        return Evaluation.from_scores([score], Usage(calls=1, latencies=(0.0,)))


def sampler() -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=0, multivariate=True)


def time_raw(storage: Callable[[], Any], n_trials: int) -> float:
    study = optuna.create_study(direction="maximize", sampler=sampler(), storage=storage())
    start = time.perf_counter()
    study.optimize(raw_objective, n_trials=n_trials)
    return (time.perf_counter() - start) / n_trials


def time_stacktune(storage: Callable[[], Any], n_trials: int) -> float:
    study = stacktune.create_study(storage=storage(), sampler=sampler(), load_if_exists=False)
    start = time.perf_counter()
    study.optimize(Trivial(), [None], lambda example, prediction: 0.0, n_trials=n_trials, show_progress_bar=False)
    return (time.perf_counter() - start) / n_trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    stacktune.get_plugin_manager()  # load the installed plugins once, outside the timed runs
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def sqlite() -> str:
            return f"sqlite:///{Path(tmp) / f'bench{next(counter)}.db'}"

        storages: dict[str, Callable[[], Any]] = {"in-memory": optuna.storages.InMemoryStorage, "sqlite": sqlite}
        print(f"{args.trials} trials per run, {args.repeats} alternating runs each, TPE(seed=0, multivariate)")
        print(f"{'storage':<10} {'optuna ms/trial':>16} {'stacktune ms/trial':>19} {'ratio':>7}")
        for name, storage in storages.items():
            raw: list[float] = []
            ours: list[float] = []
            time_raw(storage, 5), time_stacktune(storage, 5)  # warm-up: imports, first storage connection
            for _ in range(args.repeats):
                raw.append(time_raw(storage, args.trials))
                ours.append(time_stacktune(storage, args.trials))
            r, o = statistics.median(raw), statistics.median(ours)
            print(f"{name:<10} {r * 1e3:>16.2f} {o * 1e3:>19.2f} {o / r:>7.3f}")


if __name__ == "__main__":
    main()
