"""Record how the local model does on every configuration of a task's grid.

    .venv/bin/python benchmarks/build_table.py sentiment      # -> benchmarks/tables/sentiment.json
    .venv/bin/python benchmarks/build_table.py headlines      # -> benchmarks/tables/headlines.json
    .venv/bin/python benchmarks/build_table.py emotions       # -> benchmarks/tables/emotions.json
    .venv/bin/python benchmarks/build_table.py trivia         # -> benchmarks/tables/trivia.json (graded: token F1)

Each configuration of the grid is applied with the stacktune-prompt adapter and evaluated
example by example (one ``evaluate([example])`` per example, so each example's tokens and
latency are kept) with a fixed seed and no response cache. The table (grid, examples,
per-example score/tokens/latency for every configuration) is rewritten atomically after
each configuration, so an interrupted build resumes where it stopped: run it again.
Scores are whatever the task's metric gives: 0/1 for the classification tasks, graded
(token F1 in [0, 1]) for trivia; the table names its metric.
Tables are committed; nobody needs to rebuild them to run the comparison.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLES = HERE / "tables"
FORMAT_VERSION = 1


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class TaskGrid:
    """A task for the benchmark: its prompt, examples, metric and the grid swept over its knobs.

    ``grid`` maps a variable of the prompt adapter's space to the values swept;
    ``instructions`` values are indices into the task's instruction list (the table stores
    the texts and the adapter's choice keys).
    """

    name: str
    module: ModuleType
    grid: Mapping[str, Sequence[Any]]
    fixed: Mapping[str, Any]
    dataset: Sequence[Mapping[str, Any]]
    metric: Callable[[Any, Any], Any]
    description: str
    metric_name: str = "accuracy"


def _task(
    name: str,
    path: Path,
    *,
    grid: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any],
    description: str,
    metric: str = "accuracy",
) -> TaskGrid:
    """A task module's dev split and metric (the module's function named ``metric``), with the grid swept."""
    module = _load_module(f"bench_{name}_task", path)
    return TaskGrid(
        name=name,
        module=module,
        grid=grid,
        fixed=fixed,
        dataset=module.load("dev"),
        metric=getattr(module, metric),
        description=description,
        metric_name=metric,
    )


def sentiment() -> TaskGrid:
    return _task(
        "sentiment",
        ROOT / "examples" / "sentiment" / "task.py",
        grid={
            "instructions": [0, 1, 3],
            "n_demos": [0, 2, 4],
            "temperature": [0.0, 0.5, 1.0],
            "parser": ["word", "sentence"],
        },
        fixed={"top_p": 1.0, "max_tokens": 8, "demo_order": 0},
        description="positive/negative reviews (examples/sentiment), dev split",
    )


def headlines() -> TaskGrid:
    return _task(
        "headlines",
        HERE / "tasks" / "headlines.py",
        grid={
            "instructions": [0, 1, 3, 4],
            "n_demos": [0, 2, 4],
            "temperature": [0.0, 0.6, 1.2],
            "parser": ["word", "letter"],
        },
        fixed={"demo_order": 0},
        description="news headline topic, 4 classes (benchmarks/tasks/headlines.py), dev split",
    )


def emotions() -> TaskGrid:
    return _task(
        "emotions",
        HERE / "tasks" / "emotions.py",
        grid={
            "instructions": [0, 1, 2, 4],
            "n_demos": [0, 2, 4],
            "temperature": [0.0, 0.6, 1.2],
            "parser": ["word", "sentence"],
        },
        fixed={"demo_order": 0},
        description="emotion of a sentence, 4 classes (benchmarks/tasks/emotions.py), dev split; held "
        "out: recorded after the racing defaults were chosen",
    )


def trivia() -> TaskGrid:
    return _task(
        "trivia",
        HERE / "tasks" / "trivia.py",
        grid={"instructions": [0, 1], "max_tokens": [6, 24], "temperature": [0.0, 1.0]},
        fixed={"n_demos": 0},
        description="short factual questions scored by token F1, a graded metric (benchmarks/tasks/trivia.py), "
        "dev split",
        metric="f1",
    )


TASKS: dict[str, Callable[[], TaskGrid]] = {
    "sentiment": sentiment,
    "headlines": headlines,
    "emotions": emotions,
    "trivia": trivia,
}


def configurations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, in a fixed order (the last variable varies fastest)."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def config_id(configuration: Mapping[str, Any]) -> str:
    return json.dumps(dict(configuration), sort_keys=True)


def _adapter_configuration(task: TaskGrid, adapter: Any, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The grid point in the adapter's own terms (choice keys; demo orders as keys)."""
    space = adapter.extract_variables()
    prompt = adapter.prompt
    result: dict[str, Any] = {}
    for name, value in {**task.fixed, **configuration}.items():
        if name == "instructions":
            result[name] = space["instructions"].key_for(task.module.INSTRUCTIONS[value])
        elif name == "demo_order":
            continue  # set below, only when demos are shown (it is conditional on n_demos)
        elif name in space:
            result[name] = value
    if result.get("n_demos", prompt.n_demos) and "demo_order" in space:
        result["demo_order"] = prompt.demo_order_key(int(task.fixed.get("demo_order", 0)))
    return result


def run_configuration(task: TaskGrid, adapter: Any, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """Every example of the task under one configuration: score, tokens, latency, failure."""
    applied = adapter.apply_configuration(_adapter_configuration(task, adapter, configuration))
    record: dict[str, list[Any]] = {"scores": [], "input_tokens": [], "output_tokens": [], "latency": [], "failed": []}
    for example in task.dataset:
        evaluation = applied.evaluate([example], task.metric)
        usage = evaluation.usage
        record["scores"].append(evaluation.score)
        record["input_tokens"].append(usage.input_tokens)
        record["output_tokens"].append(usage.output_tokens)
        record["latency"].append(round(usage.latencies[0] if usage.latencies else 0.0, 4))
        record["failed"].append(evaluation.n_failures > 0)
    return {"configuration": dict(configuration), **record}


def empty_table(task: TaskGrid) -> dict[str, Any]:
    import stacktune_llamacpp

    table: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "task": task.name,
        "description": task.description,
        "model": stacktune_llamacpp.default_model_path().name,
        "seed": 0,
        "grid": {name: list(values) for name, values in task.grid.items()},
        "instructions": {str(i): task.module.INSTRUCTIONS[i] for i in task.grid.get("instructions", [])},
        "fixed": dict(task.fixed),
        "examples": [example.get("id", i) for i, example in enumerate(task.dataset)],
        "labels": [example.get("label", example.get("answer")) for example in task.dataset],
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "results": [],
    }
    if task.metric_name != "accuracy":  # the 0/1 tables were recorded before tables named their metric
        table["metric"] = task.metric_name
    return table


def load_table(path: Path, task: TaskGrid) -> dict[str, Any]:
    """The table built so far, checked to describe the same grid and examples."""
    fresh = empty_table(task)
    if not path.exists():
        return fresh
    table: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for key in ("task", "grid", "fixed", "examples", "instructions"):
        if table.get(key) != fresh[key]:
            raise SystemExit(f"{path} was built with another {key!r}; move it away to build a new table")
    return table


def write_atomically(path: Path, table: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def build(task_name: str, *, out: Path | None = None, limit: int | None = None, shard: str | None = None) -> Path:
    """Evaluate every configuration not yet in the table; return the table's path.

    ``shard`` "i/k" runs only every k-th configuration to do, from the i-th (0-based): k processes
    writing k tables (``--out``) share the grid; :func:`merge` joins their tables.
    """
    from stacktune_llamacpp import LocalModel
    from stacktune_prompt import PromptAdapter

    task = TASKS[task_name]()
    path = out or TABLES / f"{task.name}.json"
    table = load_table(path, task)
    done = {config_id(r["configuration"]) for r in table["results"]}
    todo = [c for c in configurations(task.grid) if config_id(c) not in done]
    if shard is not None:
        index, count = (int(part) for part in shard.split("/"))
        todo = todo[index::count]
    if limit is not None:
        todo = todo[:limit]
    print(
        f"{task.name}: {len(done)} configurations recorded, {len(todo)} to run "
        f"({len(task.dataset)} examples each) -> {path}",
        flush=True,
    )
    adapter = PromptAdapter(task.module.make_prompt(LocalModel(), cache=False))
    for number, configuration in enumerate(todo, 1):
        start = time.perf_counter()
        record = run_configuration(task, adapter, configuration)
        table["results"].append(record)
        write_atomically(path, table)
        mean = sum(record["scores"]) / len(record["scores"])
        print(
            f"[{number}/{len(todo)}] {config_id(configuration)} {task.metric_name} {mean:.3f} "
            f"({time.perf_counter() - start:.1f}s)",
            flush=True,
        )
    return path


def merge(task_name: str, parts: Sequence[Path], *, out: Path | None = None) -> Path:
    """Join tables built in shards of one grid into the task's table (configurations in grid order)."""
    task = TASKS[task_name]()
    path = out or TABLES / f"{task.name}.json"
    tables = [load_table(part, task) for part in parts]
    found = {config_id(r["configuration"]): r for table in tables for r in table["results"]}
    table = {**tables[0], "results": [found[config_id(c)] for c in configurations(task.grid) if config_id(c) in found]}
    write_atomically(path, table)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", type=Path, default=None, help="where to write the table")
    parser.add_argument("--limit", type=int, default=None, help="run at most this many new configurations")
    parser.add_argument("--shard", default=None, help="i/k: run every k-th configuration from the i-th (0-based)")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, help="join these shard tables instead")
    args = parser.parse_args()
    if args.merge:
        print(merge(args.task, args.merge, out=args.out))
        return
    build(args.task, out=args.out, limit=args.limit, shard=args.shard)


if __name__ == "__main__":
    main()
