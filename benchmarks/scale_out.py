"""Worker processes on one study against a fixed-delay OpenAI-compatible stub, measured side by side in one run.

    .venv/bin/python benchmarks/scale_out.py [--delay 0.1] [--examples 20] [--trials-per-worker 4]

Each worker is a real ``stacktune worker`` process running the prompt adapter (an ``Endpoint``,
no cache) against ``stub_server.StubServer`` on 127.0.0.1; the study lives in a fresh
PostgreSQL database (127.0.0.1:5432, dropped afterwards), or a SQLite file when PostgreSQL
cannot be reached (said in the output). It prints:

1. throughput with 1, 2 and 4 workers (LLM calls per second from the first trial's start to the
   last one's end; the workers load, then join the study together) and each one's ratio to
   one worker; the goal is 3.5x or more at 4;
2. the calls past a budget: 4 workers sharing ``--budget-calls``, one call at a time per worker
   and four (``--max-concurrency 4``): the study's budget stops every worker within about one
   call per concurrent slot;
3. the 429s of 4 workers x 4 concurrent calls against a stub that allows a number of requests
   per minute, without and with the shared rate limit (``Endpoint(rate_limit=...)`` set a tenth
   under the stub's limit).

This file is also the workers' task (``benchmarks/scale_out.py:task``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stacktune import RacingPolicy, RateLimit, Task, TaskSetup

HERE = Path(__file__).resolve().parent
POSTGRES = os.environ.get("STACKTUNE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


# -- the workers' task ------------------------------------------------------------------------------------
def _build(url: str, examples: str = "20", rpm: str = "", start_at: str = "0", **_: object) -> TaskSetup:
    """A sentiment prompt on the stub; waits until ``start_at`` so the workers start together."""
    from stacktune_prompt import FREE, Endpoint, Prompt

    endpoint = Endpoint(
        url, "stub-model", price=FREE, timeout=30, rate_limit=RateLimit(requests_per_minute=float(rpm)) if rpm else None
    )
    prompt = Prompt(
        instructions="Classify the sentiment of the review as positive or negative.",
        instruction_candidates=["Is this review positive or negative?", "Answer positive or negative."],
        template="Review: {text}",
        parser=lambda text: "positive" if "positive" in text.lower() else "negative",
        model=endpoint,
        cache=False,
        max_tokens=4,
    )
    dataset = [
        {"text": f"review number {i}", "label": "positive" if i % 3 else "negative"} for i in range(int(examples))
    ]
    time.sleep(max(0.0, float(start_at) - time.time()))
    return TaskSetup(target=prompt, dataset=dataset, metric=lambda example, prediction: prediction == example["label"])


task = Task(
    name="stub_chat",
    description="A sentiment prompt against the benchmark's stub server",
    build=_build,
    objectives=("score", "latency"),  # under the race's 30 examples (the default 20), every trial runs in full
)


# -- running workers ------------------------------------------------------------------------------------------
@contextmanager
def study_storage(given: str | None) -> Iterator[tuple[str, str]]:
    """A storage URL for the runs, and what it is: the given one, a fresh PostgreSQL database, or a SQLite file."""
    if given:
        yield given, given
        return
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES, autocommit=True)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: SQLite, said in the output
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db", f"SQLite (PostgreSQL unreachable: {type(exc).__name__})"
        return
    name = f"stacktune_bench_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{POSTGRES.rpartition('/')[0]}/{name}", "PostgreSQL 127.0.0.1:5432 (a fresh database)"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_workers(n: int, storage: str, study: str, options: dict[str, object], *flags: str) -> float:
    """Start ``n`` workers that begin together after loading; the moment they begin (time.time())."""
    start_at = time.time() + 3.0 + 2.0 * n  # each interpreter loads its plugins first (about 2 s of CPU each)
    command = [sys.executable, "-m", "stacktune", "worker", f"{HERE / 'scale_out.py'}:task"]
    command += ["--storage", storage, "--study-name", study, *flags]
    for key, value in {**options, "start_at": start_at}.items():
        command += ["--option", f"{key}={value}"]
    workers = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "STACKTUNE_WORKER_INDEX": str(i)},
        )
        for i in range(n)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=900)
        if worker.returncode != 0:
            raise SystemExit(f"a worker failed ({worker.returncode}):\n{out}\n{err[-3000:]}")
    return start_at


def trials_of(storage: str, study: str) -> list[Any]:
    import optuna

    from stacktune.study.create import open_storage

    opened = open_storage(storage)
    trials = optuna.load_study(study_name=study, storage=opened).get_trials(deepcopy=False)
    engine = getattr(getattr(opened, "_backend", opened), "engine", None)
    if engine is not None:
        engine.dispose()
    return trials


def throughput(args: argparse.Namespace, storage: str) -> None:
    from stub_server import StubServer

    race = "no race" if args.examples < RacingPolicy().min_dataset else "raced"
    print(f"\n1. throughput: {args.examples} examples a trial, stub delay {args.delay}s, no cache, {race}")
    print(f"{'workers':>8} {'trials':>7} {'calls':>6} {'seconds':>8} {'calls/s':>8} {'vs 1':>6}")
    base: float | None = None
    for n in args.workers:
        with StubServer(delay=args.delay) as stub:
            study = f"throughput-{n}-{uuid.uuid4().hex[:6]}"
            options = {"url": stub.url, "examples": args.examples}
            run_workers(n, storage, study, options, "--trials", str(args.trials_per_worker * n))
            trials = trials_of(storage, study)
            start = min(t.datetime_start.timestamp() for t in trials)
            end = max(t.datetime_complete.timestamp() for t in trials if t.datetime_complete)
            calls = stub.stats()["answered"]
        rate = calls / (end - start)
        base = base or rate
        print(f"{n:>8} {len(trials):>7} {calls:>6} {end - start:>8.2f} {rate:>8.1f} {rate / base:>5.2f}x")


def budget(args: argparse.Namespace, storage: str) -> None:
    from stub_server import StubServer

    from stacktune import load_study

    print(f"\n2. calls past a budget: 4 workers share --budget-calls {args.budget}")
    print(f"{'concurrent calls':>17} {'slots':>6} {'calls made':>11} {'past the budget':>16} {'study.spent':>12}")
    for concurrency in (1, 4):
        with StubServer(delay=args.delay / 2) as stub:
            study = f"budget-{concurrency}-{uuid.uuid4().hex[:6]}"
            flags = ("--trials", "1000", "--budget-calls", str(args.budget), "--max-concurrency", str(concurrency))
            run_workers(4, storage, study, {"url": stub.url, "examples": args.examples}, *flags)
            made = stub.stats()["answered"]
        spent = load_study(study, storage=storage).spent.calls
        print(f"{f'{concurrency} a worker':>17} {4 * concurrency:>6} {made:>11} {made - args.budget:>16} {spent:>12}")


def rate_limits(args: argparse.Namespace, storage: str) -> None:
    from stub_server import StubServer

    from stacktune import load_study

    limit = args.stub_rpm
    print(f"\n3. 429s: 4 workers x 4 concurrent calls, stub allows {limit} requests/minute (1 s burst), delay 0.02s")
    print(f"{'shared rate limit':>24} {'429s':>6} {'answered':>9} {'failed examples':>16} {'seconds':>8}")
    for rpm in (None, 0.9 * limit):
        with StubServer(delay=0.02, requests_per_minute=limit) as stub:
            study = f"limits-{uuid.uuid4().hex[:6]}"
            options: dict[str, object] = {"url": stub.url, "examples": args.examples}
            if rpm:
                options["rpm"] = rpm
            run_workers(4, storage, study, options, "--trials", "8", "--max-concurrency", "4")
            stats = stub.stats()
        trials = load_study(study, storage=storage).trials
        failed = sum(t.evaluation.n_failures for t in trials if t.evaluation)
        stored = trials_of(storage, study)
        start = min(t.datetime_start.timestamp() for t in stored)
        end = max(t.datetime_complete.timestamp() for t in stored if t.datetime_complete)
        label = f"{rpm:.0f} requests/minute" if rpm else "none"
        print(f"{label:>24} {stats['refused_429']:>6} {stats['answered']:>9} {failed:>16} {end - start:>8.1f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the stub takes per call")
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--trials-per-worker", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--stub-rpm", type=int, default=600, help="the stub's own limit in part 3")
    parser.add_argument("--storage", default=None, help="default: a fresh PostgreSQL database, else SQLite")
    parser.add_argument("--only", choices=["throughput", "budget", "rate-limits"], default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    with study_storage(args.storage) as (storage, what):
        print(f"storage: {what}; {os.cpu_count()} cores")
        if args.only in (None, "throughput"):
            throughput(args, storage)
        if args.only in (None, "budget"):
            budget(args, storage)
        if args.only in (None, "rate-limits"):
            rate_limits(args, storage)


if __name__ == "__main__":
    main()
