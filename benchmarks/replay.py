"""Replay a recorded table: an Optimizable that answers from recorded results, with no model call.

A table (built by ``build_table.py``) holds, for every configuration of a grid, each
example's score, tokens and latency. :class:`ReplayProgram` serves exactly those results
through the Optimizable protocol (with ``stacktune.evaluate_examples``, like a real
adapter: on_result, failures, usage metering), so search strategies can be compared on
real LLM behaviour thousands of times in a few minutes. It counts every example it serves:
that is the number of LLM calls the strategy would have paid for.

The space has numeric variables where the grid is numeric (``temperature`` a Float,
``n_demos`` an Int, both snapped to the nearest grid value), so strategies are tested on
numeric variables, not only on categorical ones.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktune import (
    Categorical,
    Evaluation,
    Float,
    Int,
    Metric,
    ResultCallback,
    Space,
    Usage,
    Variable,
    evaluate_examples,
    record_usage,
)

TABLES = Path(__file__).resolve().parent / "tables"

#: Grid variables that stay categorical even when their values are numbers (indices).
CATEGORICAL_NAMES = frozenset({"instructions", "parser", "format", "demo_order"})


def recorded_score(example: object, prediction: object) -> float:
    """The metric for replays: the prediction IS the recorded score."""
    return float(prediction)  # type: ignore[arg-type]


@dataclass
class Table:
    """A recorded grid: configurations × examples of score, tokens and latency."""

    name: str
    grid: dict[str, list[Any]]
    configurations: list[dict[str, Any]]
    scores: list[list[float]]
    input_tokens: list[list[int]]
    output_tokens: list[list[int]]
    latency: list[list[float]]
    meta: dict[str, Any] = field(default_factory=dict)
    numeric: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._index = {self.key(c): i for i, c in enumerate(self.configurations)}
        self.means = [sum(s) / len(s) for s in self.scores]
        if not self.numeric:
            self.numeric = frozenset(
                name
                for name, values in self.grid.items()
                if name not in CATEGORICAL_NAMES
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            )

    @classmethod
    def load(cls, name_or_path: str | Path) -> Table:
        """A table by task name (``benchmarks/tables/<name>.json``) or path."""
        path = Path(name_or_path)
        if not path.suffix:
            path = TABLES / f"{name_or_path}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Table:
        results = list(data["results"])
        grid = {name: list(values) for name, values in data["grid"].items()}
        expected = 1
        for values in grid.values():
            expected *= len(values)
        if len(results) != expected:
            raise ValueError(
                f"table {data.get('task')!r} has {len(results)} configurations, the grid has {expected}: "
                f"finish building it (benchmarks/build_table.py resumes)"
            )
        return cls(
            name=str(data.get("task", "table")),
            grid=grid,
            configurations=[dict(r["configuration"]) for r in results],
            scores=[[float(s) for s in r["scores"]] for r in results],
            input_tokens=[list(r.get("input_tokens", [0] * len(r["scores"]))) for r in results],
            output_tokens=[list(r.get("output_tokens", [0] * len(r["scores"]))) for r in results],
            latency=[list(r.get("latency", [0.0] * len(r["scores"]))) for r in results],
            meta={k: v for k, v in data.items() if k != "results"},
        )

    @property
    def n_examples(self) -> int:
        return len(self.scores[0])

    @property
    def best_score(self) -> float:
        return max(self.means)

    def key(self, configuration: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(configuration[name] for name in self.grid)

    def snap(self, configuration: Mapping[str, Any]) -> dict[str, Any]:
        """The grid point of a configuration: numeric values go to the nearest grid value."""
        snapped: dict[str, Any] = {}
        for name, values in self.grid.items():
            if name not in configuration:
                raise KeyError(f"configuration {dict(configuration)} has no value for {name!r}")
            value = configuration[name]
            if name in self.numeric:
                snapped[name] = min(values, key=lambda v: (abs(float(v) - float(value)), v))
            elif value in values:
                snapped[name] = value
            else:
                raise ValueError(f"{name}={value!r} is not in the grid; allowed: {values}")
        return snapped

    def index(self, configuration: Mapping[str, Any]) -> int:
        return self._index[self.key(self.snap(configuration))]

    def true_score(self, configuration: Mapping[str, Any]) -> float:
        """The configuration's mean score over all examples."""
        return self.means[self.index(configuration)]

    def space(self, *, numeric: bool = True, defaults: Mapping[str, Any] | None = None) -> Space:
        """The searched space: numeric grid variables as Float/Int ranges, others Categorical.

        Defaults are ``defaults`` (a program's current configuration) or the first grid values.
        """
        variables: list[Variable] = []
        for name, values in self.grid.items():
            default = (defaults or {}).get(name, values[0])
            if numeric and name in self.numeric:
                low, high = min(values), max(values)
                if all(isinstance(v, int) for v in values):
                    variables.append(Int(name=name, low=int(low), high=int(high), default=int(default)))
                else:
                    variables.append(Float(name=name, low=float(low), high=float(high), default=float(default)))
            else:
                variables.append(Categorical(name, list(values), default=default))
        return Space(variables)

    def subset(
        self, *, grid: Mapping[str, Sequence[Any]] | None = None, examples: Sequence[int] | None = None
    ) -> Table:
        """A smaller table (for tests): a sub-grid and/or some examples."""
        grid = grid or {}
        keep = [i for i, c in enumerate(self.configurations) if all(c[n] in grid[n] for n in grid)]
        new_grid = {n: [v for v in vs if n not in grid or v in grid[n]] for n, vs in self.grid.items()}
        cols = list(examples) if examples is not None else list(range(self.n_examples))

        def pick(rows: list[list[Any]]) -> list[list[Any]]:
            return [[rows[i][j] for j in cols] for i in keep]

        return Table(
            self.name,
            new_grid,
            [self.configurations[i] for i in keep],
            pick(self.scores),
            pick(self.input_tokens),
            pick(self.output_tokens),
            pick(self.latency),
            dict(self.meta),
            self.numeric,
        )

    def to_dict(self) -> dict[str, Any]:
        results = [
            {"configuration": c, "scores": s, "input_tokens": it, "output_tokens": ot, "latency": lat}
            for c, s, it, ot, lat in zip(
                self.configurations, self.scores, self.input_tokens, self.output_tokens, self.latency
            )
        ]
        return {**self.meta, "task": self.name, "grid": self.grid, "results": results}


class Counter:
    """Examples served, shared by a program and every program derived from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.count += n


class ReplayProgram:
    """An Optimizable serving a table's recorded results.

    The dataset is a sequence of example indices into the table (``list(range(n))`` or
    any order of them). ``evaluate`` reports each recorded score through ``on_result``
    as if it had just been computed, and stops when ``on_result`` raises, exactly like a
    real adapter; every example served is counted in ``counter``.
    """

    def __init__(
        self,
        table: Table,
        configuration: Mapping[str, Any] | None = None,
        *,
        counter: Counter | None = None,
        numeric: bool = True,
    ) -> None:
        self.table = table
        self.numeric = numeric
        self.counter = counter or Counter()
        self.configuration = dict(configuration) if configuration is not None else table.space().defaults()
        self._space = table.space(numeric=numeric, defaults=self.configuration)

    def __repr__(self) -> str:
        return f"ReplayProgram({self.table.name!r}, {self.configuration})"

    def extract_variables(self) -> Space:
        return self._space

    def apply_configuration(self, configuration: Mapping[str, object]) -> ReplayProgram:
        """A new program with the configuration applied (values stay as given; evaluation snaps them)."""
        valid = self._space.validate_configuration(configuration)
        return ReplayProgram(self.table, {**self.configuration, **valid}, counter=self.counter, numeric=self.numeric)

    @property
    def row(self) -> int:
        return self.table.index(self.configuration)

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Serve the recorded results through ``stacktune.evaluate_examples`` (failures, on_result, metering)."""
        row = self.row
        table = self.table

        def run_example(example: object) -> float:
            j = _example_index(example, table.n_examples)
            self.counter.add()
            record_usage(
                Usage(
                    calls=1,
                    input_tokens=table.input_tokens[row][j],
                    output_tokens=table.output_tokens[row][j],
                    latencies=(table.latency[row][j],),
                )
            )
            return table.scores[row][j]

        return evaluate_examples(dataset, run_example, metric, on_result=on_result, max_concurrency=max_concurrency)


def _example_index(example: object, n: int) -> int:
    if isinstance(example, bool) or not isinstance(example, int) or not 0 <= example < n:
        raise ValueError(f"a replay dataset holds example indices 0..{n - 1}, got {example!r}")
    return example


__all__ = ["Counter", "ReplayProgram", "Table", "recorded_score"]
