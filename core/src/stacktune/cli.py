"""The ``stacktune`` command line: optimize a task, show, report and open a stored study, list plugins."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from stacktune.errors import StacktuneError, Terminated
from stacktune.plugins import get_plugin_manager, plugin_names
from stacktune.secrets import RedactingStream
from stacktune.tasks import Task, TaskSetup, available_tasks, find_task

if TYPE_CHECKING:
    import optuna

    from stacktune.proposals import Bootstrap, Proposer
    from stacktune.readable import ReadableSpace
    from stacktune.study import Budget, Study, TrialResult
    from stacktune.study.importance import Importance

# The command imports Optuna and the study machinery only when a command runs, so `stacktune --help` is quick.
#: Where studies go by default (``stacktune.study.DEFAULT_STORAGE``, checked equal by the tests).
DEFAULT_STORAGE = "sqlite:///stacktune.db"
#: The built-in objectives' names (``stacktune.BUILTIN_OBJECTIVES``, checked equal by the tests).
OBJECTIVE_NAMES = ("cost", "latency", "score", "tokens")

__version__ = "0.1.0"

#: Tables fit 80 columns when the output is not a terminal (a pipe, a file, a CI log).
console = Console(width=None if sys.stdout.isatty() else 80)
#: Characters of one configuration value in a table (texts are shortened, never shown as their keys).
TABLE_VALUE_CHARS = 40


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float):
        text = f"{value:.3g}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_configuration(configuration: dict[str, Any], readable: ReadableSpace | None = None) -> str:
    """One ``name=value`` line per variable; a chosen text is shown (shortened), not its stored key."""
    from stacktune.readable import ReadableSpace

    readable = readable or ReadableSpace()
    return "\n".join(
        f"{name}={readable.short(name, value, TABLE_VALUE_CHARS)}" for name, value in configuration.items()
    )


def _readable(study: Study) -> ReadableSpace:
    from stacktune.readable import ReadableSpace
    from stacktune.records import ATTR_SPACE

    return ReadableSpace(study.optuna_study.user_attrs.get(ATTR_SPACE))


def results_table(study: Study, results: Sequence[TrialResult], title: str) -> Table:
    """A table of trials: objective values, tokens, latency, configuration."""
    from stacktune.evaluation import EvaluationSummary

    table = Table(title=title, show_lines=True)
    table.add_column("trial", justify="right")
    for name in study.objective_names:
        table.add_column(name, justify="right")
    for extra in ("tok/ex", "s/ex", "fail"):
        table.add_column(extra, justify="right")
    table.add_column("configuration", overflow="fold")
    readable = _readable(study)
    for result in results:
        evaluation = result.evaluation or EvaluationSummary()
        row = [str(result.number)]
        row += [f"{result.values.get(name, float('nan')):.4g}" for name in study.objective_names]
        row += [
            f"{evaluation.tokens_per_example:.0f}",
            f"{evaluation.mean_latency:.2f}",
            str(evaluation.n_failures),
            _format_configuration(result.configuration, readable),
        ]
        table.add_row(*row)
    return table


def print_study(study: Study, *, out: Console = console) -> None:
    """The best trial (or the Pareto front), the spread between best and worst, where it is stored."""
    complete = study.completed_trials()
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state] = states.get(trial.state, 0) + 1
    out.print(
        f"study [bold]{study.study_name}[/] · objectives {', '.join(study.objective_names)} · "
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    )
    if not complete:
        out.print("[yellow]no complete trial yet[/]")
        return
    if study.is_multi_objective:
        front: dict[str, TrialResult] = {}
        for result in study.pareto_front():
            front.setdefault(repr(sorted(result.configuration.items())), result)
        out.print(results_table(study, list(front.values()), "Pareto front (distinct configurations)"))
    else:
        out.print(results_table(study, [study.best], "Best configuration"))
    first = study.objectives[0]
    ranked = sorted(complete, key=lambda r: r.values[first.name], reverse=first.direction == "maximize")
    best, worst = ranked[0], ranked[-1]
    out.print(
        f"{first.name}: best {best.values[first.name]:.4g} (trial {best.number}) vs worst "
        f"{worst.values[first.name]:.4g} (trial {worst.number}) over {len(complete)} complete trials"
    )
    for line in alternatives_summary(study):
        out.print(line)
    baseline = study.baseline
    if baseline is not None and baseline.values:
        shown = ", ".join(f"{name} {value:.4g}" for name, value in baseline.values.items())
        out.print(f"baseline (trial {baseline.number}, the program as written): {shown}")
    for check in study.verified():
        shown = ", ".join(f"{name} {check.search[name]:.4g} -> {value:.4g}" for name, value in check.heldout.items())
        out.print(f"held out ({check.evaluation.n_examples} examples), trial {check.number}: {shown}")
    if study.examples_saved:
        raced = sum(1 for t in study.trials if t.raced_out)
        how = f"racing stopped {raced} trials early and" if raced else "pruning"
        out.print(f"{how} saved {study.examples_saved} example evaluations")
    out.print(
        f"stored in {study.storage_url or 'a custom storage'} as {study.study_name!r} "
        f"(optuna-dashboard {study.storage_url or ''})"
    )


def alternatives_summary(study: Study) -> list[str]:
    """For a study over alternatives: each alternative's best complete trial, and which one won.

    The winner is the best on the first objective, ties broken by the next ones; empty for a
    study whose configurations have no ``program`` choice.
    """
    from stacktune._alternatives import PROGRAM  # imports the runner: not when the command loads

    complete = [t for t in study.completed_trials() if PROGRAM in t.configuration]
    if not complete:
        return []

    def rank(trial: TrialResult) -> tuple[float, ...]:
        return tuple(
            -trial.values[o.name] if o.direction == "maximize" else trial.values[o.name] for o in study.objectives
        )

    best: dict[str, TrialResult] = {}
    for trial in sorted(complete, key=rank):
        best.setdefault(str(trial.configuration[PROGRAM]), trial)
    lines = ["best of each alternative (complete trials):"]
    for name, trial in sorted(best.items(), key=lambda item: rank(item[1])):
        figures = ", ".join(f"{objective} {value:.4g}" for objective, value in trial.values.items())
        spent = trial.evaluation
        cost = f", {spent.tokens_per_example:.0f} tokens/example" if spent is not None else ""
        lines.append(f"  {name}: {figures}{cost} (trial {trial.number})")
    winner = min(best.items(), key=lambda item: rank(item[1]))[0]
    lines.append(f"won: {winner} (on {', '.join(study.objective_names)}, in that order)")
    return lines


class UsageError(click.ClickException):
    """A mistake in the command (an unknown task or study, a bad --option): one line, exit status 2 as click's."""

    exit_code = 2


class _Group(click.Group):
    """The ``stacktune`` group: stacktune's own errors (a bad storage URL, a missing driver) are one line.

    It prints through :class:`~stacktune.secrets.RedactingStream`: no secret reaches the terminal,
    whether in a table, a log line or an error message (printed after the command has ended).
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)  # type: ignore[assignment]
        try:
            return super().main(*args, **kwargs)
        finally:
            sys.stdout, sys.stderr = saved

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StacktuneError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(
    cls=_Group,
    epilog="Example: stacktune optimize toy --trials 20 --storage sqlite:///studies.db  "
    "(then: stacktune show toy --storage sqlite:///studies.db)",
)
@click.version_option(__version__, "--version", prog_name="stacktune", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for Optuna's own).")
def cli(verbose: int) -> None:
    """stacktune: tune every knob of an LLM application with Optuna."""
    import optuna

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if verbose < 2:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


@cli.command("plugins", epilog="Example: stacktune plugins")
def plugins_command() -> None:
    """List the loaded plugins and the tasks they offer."""
    manager = get_plugin_manager()
    table = Table(title="stacktune plugins")
    table.add_column("name")
    table.add_column("distribution")
    table.add_column("hooks")
    distributions = {plugin: dist for plugin, dist in manager.list_plugin_distinfo()}
    for name in plugin_names(manager):
        plugin = manager.get_plugin(name)
        dist = distributions.get(plugin)
        hooks = sorted(h.name for h in manager.get_hookcallers(plugin) or [])
        table.add_row(name, f"{dist.project_name} {dist.version}" if dist else "-", ", ".join(hooks))
    console.print(table)
    tasks = available_tasks(manager)
    if tasks:
        console.print("tasks:")
        for name, task in sorted(tasks.items()):  # one a line: a name is never cut at 80 columns
            console.print(f"  {name} ({task.description})", markup=False)


def _parse_options(options: Sequence[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {item!r} is not key=value (e.g. --option examples=40)")
        parsed[key] = value
    return parsed


def _build(task: Task, options: Sequence[str]) -> TaskSetup:
    """The task's setup from its ``--option``s; an option it does not take, or a bad value, is one line."""
    parsed = _parse_options(options)
    unknown = sorted(set(parsed) - set(task.options)) if task.options else []
    if unknown:
        known = ", ".join(f"{k} ({v})" for k, v in task.options.items())
        raise UsageError(f"task {task.name!r} has no option {', '.join(unknown)}; its options: {known}")
    try:
        return task.build(**parsed)
    except (ValueError, TypeError) as exc:
        shown = ", ".join(f"{k}={v}" for k, v in parsed.items()) or "no options"
        raise UsageError(f"task {task.name!r} ({shown}): {exc}") from None


@cli.command(
    "optimize",
    epilog="Example: stacktune optimize sentiment --trials 30 --objective score --objective cost "
    "--storage sqlite:///studies.db --budget-usd 2  (demos from the program's own right answers first, "
    "and what all of it would spend: stacktune optimize sentiment --trials 30 --bootstrap 16 --dry-run)",
)
@click.argument("task")
@click.option(
    "--trials",
    "n_trials",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Trials to run (with --workers, and for `stacktune worker`: the study's total over every worker).",
)
@click.option(
    "--objective",
    "objectives",
    multiple=True,
    type=click.Choice(OBJECTIVE_NAMES),
    help="Repeat for several objectives (default: the task's own).",
)
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="Any Optuna storage URL.")
@click.option("--study-name", default=None, help="Default: the task's name.")
@click.option("--n-jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Trials in parallel.")
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Examples in parallel within a trial.",
)
@click.option("--timeout", type=float, default=None, help="Seconds before no new trial starts.")
@click.option("--budget-usd", type=float, default=None, help="Stop once the study spent this many USD.")
@click.option("--budget-calls", type=int, default=None, help="Stop once the study made this many LLM calls.")
@click.option("--budget-tokens", type=int, default=None, help="Stop once the study used this many tokens.")
@click.option("--seed", type=int, default=None, help="Seed of the sampler.")
@click.option("--fresh", is_flag=True, help="Delete a stored study of the same name first.")
@click.option("--option", "options", multiple=True, help="key=value passed to the task (repeatable).")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="The progress line on stderr (only ever on a terminal).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the run would spend (a small probe, nothing stored), --propose and --bootstrap included, "
    "and exit.",
)
@click.option(
    "--grace-period",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds without a heartbeat before another process's running trial is failed and run again.",
)
@click.option(
    "--shared-state",
    default=None,
    help="Where workers share trial counts, budget and rate limits (redis://... or a database URL); "
    "default: beside the storage.",
)
@click.option(
    "--propose",
    type=click.IntRange(min=1),
    default=None,
    help="Before the search, have the task's proposer LM write N instruction candidates per instruction knob "
    "(stored in the study; a resumed study reuses them). See docs/proposals.md.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=1),
    default=None,
    help="Before the search, run the program as it is on up to N examples; those it gets right become demos the "
    "search may show (stored in the study; a resumed study reuses them). See docs/proposals.md.",
)
@click.option(
    "--bootstrap-demos",
    type=click.IntRange(min=1),
    default=None,
    help="With --bootstrap: the most bootstrapped demos shown at once (default 4).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Start this many worker processes on the study (`stacktune worker`); --trials is then the study's "
    "total, counted over every worker and machine.",
)
def optimize_command(
    task: str,
    n_trials: int,
    objectives: tuple[str, ...],
    storage: str,
    study_name: str | None,
    n_jobs: int,
    max_concurrency: int,
    timeout: float | None,
    budget_usd: float | None,
    budget_calls: int | None,
    budget_tokens: int | None,
    seed: int | None,
    fresh: bool,
    options: tuple[str, ...],
    progress: bool,
    dry_run: bool,
    grace_period: float,
    shared_state: str | None,
    propose: int | None,
    bootstrap: int | None,
    bootstrap_demos: int | None,
    workers: int | None,
) -> None:
    """Tune TASK (a name from `stacktune plugins`, or path/to/file.py:task) and show the result.

    With --workers N, N `stacktune worker` processes share the study; the same command on other
    machines (same --storage, a PostgreSQL URL) joins it.
    """
    import optuna

    from stacktune.study import create_study, delete_study

    found = _find_task(task)
    name = study_name or found.name
    bootstrapping = _bootstrap(bootstrap, bootstrap_demos)
    if dry_run:  # the probe runs outside any stored study: nothing is created, nothing deleted
        setup = _build(found, options)
        probe = (None if fresh else _stored_study_if_any(name, storage)) or create_study(
            storage=optuna.storages.InMemoryStorage(), objectives=objectives or found.objectives
        )
        estimate = probe.estimate(
            setup.target,
            setup.dataset,
            setup.metric,
            n_trials,
            max_concurrency=max_concurrency,
            seed=seed or 0,
            propose=_proposer(found, setup, propose),
            bootstrap=bootstrapping,
        )
        click.echo(f"stacktune optimize {task} --trials {n_trials}: what it would spend\n{estimate.render()}")
        return
    if fresh:
        delete_study(name, storage=storage, shared_state=shared_state)
    if workers is not None:
        study = create_study(
            study_name=name, storage=storage, objectives=objectives or found.objectives, shared_state=shared_state
        )
        params = click.get_current_context().params
        code = _run_workers(workers, [task, *_worker_arguments(params, name)])
        print_study(study)
        sys.exit(code)
    setup = _build(found, options)
    study = create_study(
        study_name=name,
        storage=storage,
        objectives=objectives or found.objectives,
        seed=seed,
        shared_state=shared_state,
    )
    budget = _budget(budget_usd, budget_calls, budget_tokens)
    start = time.perf_counter()
    try:
        study.optimize(
            setup.target,
            setup.dataset,
            setup.metric,
            n_trials=n_trials,
            timeout=timeout,
            budget=budget,
            n_jobs=n_jobs,
            max_concurrency=max_concurrency,
            show_progress_bar=progress,
            grace_period=grace_period,
            propose=_proposer(found, setup, propose),
            bootstrap=bootstrapping,
        )
    except KeyboardInterrupt as exc:
        console.print(
            "[yellow]interrupted: every finished trial is stored, the interrupted ones as failed; "
            "run the same command to resume[/]"
        )
        print_study(study)
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    console.print(f"{n_trials} trials in {time.perf_counter() - start:.1f}s")
    if setup.holdout and study.completed_trials():
        study.verify(setup.target, setup.holdout, setup.metric, max_concurrency=max_concurrency)
    print_study(study)


def _find_task(task: str) -> Task:
    try:
        return find_task(task)
    except LookupError as exc:
        raise UsageError(str(exc)) from None


def _proposer(task: Task, setup: TaskSetup, n: int | None) -> Proposer | None:
    """``--propose N``: a Proposer on the task's proposer LM (``TaskSetup.proposer_lm``)."""
    if n is None:
        return None
    if setup.proposer_lm is None:
        raise click.UsageError(
            f"--propose needs a proposer LM, and task {task.name!r} gives none: set TaskSetup(proposer_lm=...) "
            f"in its build (e.g. stacktune_prompt.ChatProposerLM(model))"
        )
    from stacktune.proposals import Proposer

    return Proposer(lm=setup.proposer_lm, n=n)


def _bootstrap(n: int | None, demos: int | None) -> Bootstrap | None:
    """``--bootstrap N [--bootstrap-demos K]``: ``Bootstrap(max_examples=N, max_demos=K)``."""
    if n is None:
        if demos is not None:
            raise click.UsageError(f"--bootstrap-demos {demos} needs --bootstrap N (how many examples to run first)")
        return None
    from stacktune.proposals import Bootstrap

    return Bootstrap(max_examples=n) if demos is None else Bootstrap(max_examples=n, max_demos=demos)


def _stored_study_if_any(name: str, storage: str) -> Study | None:
    """The stored study of that name (what a dry run of a resumed study reads), or None; never creates a database."""
    from stacktune.study import load_study

    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).is_file():
        return None
    try:
        return load_study(name, storage=storage)
    except KeyError:
        return None


def _budget(usd: float | None, calls: int | None, tokens: int | None) -> Budget | None:
    from stacktune.study import Budget

    if all(v is None for v in (usd, calls, tokens)):
        return None
    return Budget(usd=usd, calls=calls, tokens=tokens)


#: The options of `optimize` a worker takes too (the others are the launcher's own).
_WORKER_OPTIONS = (
    "n_trials",
    "objectives",
    "storage",
    "study_name",
    "n_jobs",
    "max_concurrency",
    "timeout",
    "budget_usd",
    "budget_calls",
    "budget_tokens",
    "seed",
    "options",
    "grace_period",
    "shared_state",
    "propose",
    "bootstrap",
    "bootstrap_demos",
)


def _worker_arguments(params: dict[str, Any], study_name: str) -> list[str]:
    """The command line of a worker that runs what `optimize` was given, on the same study."""
    flags = {p.name: p.opts[0] for p in optimize_command.params}
    arguments: list[str] = []
    for name in _WORKER_OPTIONS:
        value = study_name if name == "study_name" else params.get(name)
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if item is not None:
                arguments += [flags[name], str(item)]
    return arguments


def _run_workers(n: int, arguments: list[str]) -> int:
    """Start ``n`` worker processes and wait for them; SIGTERM and Ctrl-C reach each one. The worst exit code."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "stacktune", "worker", *arguments], env={**os.environ, _INDEX_ENV: str(i)}
        )
        for i in range(n)
    ]
    console.print(f"started {n} workers (pids {', '.join(str(c.pid) for c in children)})")

    def forward(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        codes = []
        for child in children:
            while True:
                try:
                    codes.append(child.wait())
                    break
                except (
                    KeyboardInterrupt
                ):  # the terminal sent it to every worker too: wait for them to store their trials
                    continue
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [code for code in codes if code != 0]
    if failed:
        console.print(f"[yellow]{len(failed)} of {n} workers exited with an error (exit codes {codes})[/]")
    return max(codes, key=abs) if failed else 0


#: Set by `optimize --workers` for each worker it starts; schedulers set their own (see `worker`).
_INDEX_ENV = "STACKTUNE_WORKER_INDEX"
_SCHEDULER_INDEX_ENVS = (_INDEX_ENV, "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")


def _worker_index() -> int:
    """This worker's number: from `optimize --workers`, a SLURM array or a Kubernetes indexed Job, else its pid."""
    for variable in _SCHEDULER_INDEX_ENVS:
        value = os.environ.get(variable, "")
        if value.isdigit():
            return int(value)
    return os.getpid()


def worker_command_callback(task: str, **params: Any) -> None:
    """Join the study and run its trials until it holds --trials of them (counted over every worker), then exit 0.

    The unit to run under a job scheduler (Kubernetes Jobs, SLURM arrays) or by hand on each
    machine: every worker opens the same --storage (PostgreSQL for several machines). The budget,
    the race and the rate limits are the study's, shared through its storage; a worker killed
    mid-trial has that trial failed and run again by the others after --grace-period seconds.
    With --seed, each worker samples with seed + its index (SLURM_ARRAY_TASK_ID,
    JOB_COMPLETION_INDEX), so workers do not repeat each other.
    """
    from stacktune.study import create_study
    from stacktune.study._ledger import counts_as_a_trial

    found = _find_task(task)
    setup: TaskSetup = _build(found, params["options"])
    index, seed = _worker_index(), params["seed"]
    study = create_study(
        study_name=params["study_name"] or found.name,
        storage=params["storage"],
        objectives=params["objectives"] or found.objectives,
        seed=None if seed is None else seed + index,
        shared_state=params["shared_state"],
    )
    ran: list[int] = []

    def count(optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if counts_as_a_trial(trial):
            ran.append(trial.number)

    label = f"worker {index} ({socket.gethostname()}:{os.getpid()})"
    try:
        study.optimize(
            setup.target,
            setup.dataset,
            setup.metric,
            total_trials=params["n_trials"],
            timeout=params["timeout"],
            budget=_budget(params["budget_usd"], params["budget_calls"], params["budget_tokens"]),
            n_jobs=params["n_jobs"],
            max_concurrency=params["max_concurrency"],
            show_progress_bar=False,
            grace_period=params["grace_period"],
            callbacks=[count],
            propose=_proposer(found, setup, params["propose"]),
            bootstrap=_bootstrap(params["bootstrap"], params["bootstrap_demos"]),
        )
    except KeyboardInterrupt as exc:
        console.print(f"{label}: interrupted after {len(ran)} trials; its running trials are stored failed")
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    console.print(f"{label}: ran {len(ran)} trials; stopped: {study.last_stop_reason}")


worker_command = click.Command(
    "worker",
    callback=worker_command_callback,
    params=[p for p in optimize_command.params if p.name == "task" or p.name in _WORKER_OPTIONS],
    help=worker_command_callback.__doc__,
    epilog="Example: stacktune worker sentiment --trials 200 --storage postgresql://postgres@db/studies --seed 0",
)
cli.add_command(worker_command)


@cli.command(
    "storage-proxy",
    epilog="Example: stacktune storage-proxy postgresql://postgres@db/studies --port 13000",
)
@click.argument("storage")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=13000, show_default=True, help="The port to listen on.")
def storage_proxy_command(storage: str, host: str, port: int) -> None:
    """Serve STORAGE (a database URL) to many workers through Optuna's gRPC storage proxy.

    Workers then give --storage grpc://HOST:PORT, and --shared-state with the database URL (or
    redis://...), since the proxy carries Optuna's calls only. Runs until stopped.
    """
    import optuna

    from stacktune.study.create import open_storage

    opened = open_storage(storage)
    console.print(f"serving {storage} on grpc://{host}:{port} (Ctrl-C to stop)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.run_grpc_proxy_server(opened, host=host, port=port)


@cli.command("verify", epilog="Example: stacktune verify demo-sentiment --task sentiment --storage sqlite:///demo.db")
@click.argument("study_name")
@click.option("--task", "task_name", required=True, help="The task whose held-out split to use (its `holdout`).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="The Optuna storage URL holding the study.")
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many of the best trials (one objective; several: the Pareto front).",
)
@click.option("--option", "options", multiple=True, help="key=value passed to the task (repeatable).")
def verify_command(study_name: str, task_name: str, storage: str, top: int, options: tuple[str, ...]) -> None:
    """Evaluate the chosen trials of a stored study again, in full, on the task's held-out examples."""
    from stacktune.study import load_study

    try:
        found = find_task(task_name)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    setup = _build(found, options)
    if not setup.holdout:
        raise UsageError(f"task {task_name!r} has no held-out split (TaskSetup.holdout is empty)")
    try:
        study = load_study(study_name, storage=storage)
    except KeyError:
        raise UsageError(f"no study {study_name!r} in {storage}") from None
    study.verify(setup.target, setup.holdout, setup.metric, top=top)
    print_study(study)


def _existing_storage(storage: str) -> None:
    """Refuse a SQLite path with no file behind it: reading commands never create a database."""
    if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
        path = Path(storage.removeprefix("sqlite:///"))
        if not path.is_file():
            raise UsageError(f"no database at {str(path)!r} (from --storage {storage}): check the path")


def _stored_study(study_name: str, storage: str) -> Study:
    """A stored study, or a one-line error naming what is missing (never a new, empty database)."""
    from stacktune.study import load_study, study_summaries

    _existing_storage(storage)
    try:
        return load_study(study_name, storage=storage)
    except KeyError:
        names = [s["study_name"] for s in study_summaries(storage)]
        raise UsageError(f"no study {study_name!r} in {storage}; studies there: {names or 'none'}") from None
    except StacktuneError as exc:
        raise click.ClickException(str(exc)) from None


def importance_table(result: Importance) -> Table:
    """One objective's parameter importances: variable, share, bar (fits 80 columns)."""
    table = Table(title=f"importance for {result.objective}", title_justify="left")
    table.add_column("variable")
    table.add_column("share", justify="right")
    table.add_column("")
    for name, share in result.importances.items():
        table.add_row(_short(result.labels.get(name, name), 44), f"{share:.0%}", "█" * round(share * 20))
    return table


def print_importance(study: Study, *, out: Console = console) -> None:
    """Which variables mattered, per objective, and how that was measured."""
    try:
        results = study.importance()
    except StacktuneError as exc:
        raise click.ClickException(str(exc)) from None
    for result in results:
        if result.note:
            out.print(f"importance for {result.objective}: none ({result.note})")
            continue
        out.print(importance_table(result))
        used = f"{result.n_trials} trials" + (
            f" ({result.n_estimated} stopped by the race, at their estimated score)" if result.n_estimated else ""
        )
        left_out = f"; left out (set in only some trials): {', '.join(result.left_out)}" if result.left_out else ""
        out.print(f"by {result.evaluator}, over {used}{left_out}")


def study_json(study: Study, *, importance: bool = False) -> dict[str, Any]:
    """What ``show --json`` prints: the study's chosen trials, baseline and held-out figures, for scripts."""
    readable = _readable(study)

    def trial(result: TrialResult) -> dict[str, Any]:
        return {
            "number": result.number,
            "values": result.values,
            "configuration": result.configuration,
            "readable": readable.configuration(result.configuration),
            "evaluation": result.evaluation.model_dump(mode="json") if result.evaluation else None,
        }

    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state] = states.get(t.state, 0) + 1
    complete = bool(study.completed_trials())
    data: dict[str, Any] = {
        "study_name": study.study_name,
        "storage": study.storage_url,
        "objectives": [{"name": o.name, "direction": o.direction} for o in study.objectives],
        "trials": states,
        "best": trial(study.best) if complete and not study.is_multi_objective else None,
        "pareto_front": [trial(t) for t in study.pareto_front()] if complete else [],
        "baseline": trial(study.baseline) if study.baseline is not None else None,
        "verified": [v.model_dump(mode="json") for v in study.verified()],
        "examples_saved": study.examples_saved,
    }
    if importance:
        data["importance"] = [
            {"objective": r.objective, "evaluator": r.evaluator, "importances": r.importances, "note": r.note}
            for r in study.importance()
        ]
    return data


@cli.command(
    "show",
    epilog="Example: stacktune show demo-sentiment --storage sqlite:///demo.db --importance",
)
@click.argument("study_name")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="The Optuna storage URL holding the study.")
@click.option("--importance", is_flag=True, help="Also show which variables mattered, per objective (fANOVA).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
def show_command(study_name: str, storage: str, importance: bool, as_json: bool) -> None:
    """Show the best configuration (or Pareto front) of a stored study."""
    study = _stored_study(study_name, storage)
    if as_json:
        click.echo(json.dumps(study_json(study, importance=importance), indent=2, default=str))
        return
    print_study(study)
    if importance:
        print_importance(study)


def _default_report_name(study_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", study_name).strip("-.") + "-report.html"


@cli.command("report", epilog="Example: stacktune report demo-sentiment --storage sqlite:///demo.db -o report.html")
@click.argument("study_name")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="The Optuna storage URL holding the study.")
@click.option("-o", "--output", default=None, help="The HTML file to write (default: STUDY_NAME-report.html, here).")
def report_command(study_name: str, storage: str, output: str | None) -> None:
    """Write a stored study's report: one self-contained HTML file with its charts."""
    from stacktune.report import require_plotly

    try:
        require_plotly()
    except StacktuneError as exc:
        raise click.ClickException(str(exc)) from None
    study = _stored_study(study_name, storage)
    try:
        path = study.report(output or _default_report_name(study_name))
    except StacktuneError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"report written to {path}")


def dashboard_executable() -> str:
    """The ``optuna-dashboard`` program beside this Python, or on the PATH; a one-line error if missing."""
    beside = Path(sys.executable).with_name("optuna-dashboard")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("optuna-dashboard")
    if found:
        return found
    raise click.ClickException("optuna-dashboard is not installed: pip install 'stacktune[dashboard]'")


def dashboard_invocation(storage: str, *, port: int, host: str = "127.0.0.1") -> list[str]:
    """The command that serves ``storage`` with optuna-dashboard on ``host`` (this machine only by default)."""
    return [dashboard_executable(), storage, "--host", host, "--port", str(port)]


@cli.command("dashboard", epilog="Example: stacktune dashboard demo-sentiment --storage sqlite:///demo.db")
@click.argument("study_name")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="The Optuna storage URL holding the study.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The port to serve on.")
def dashboard_command(study_name: str, storage: str, port: int) -> None:
    """Open a stored study in optuna-dashboard, served on 127.0.0.1 until Ctrl-C.

    Each trial shows its configuration in words and sortable columns (calls, tokens,
    cost_usd, latency_s, failed_examples, examples_evaluated) as user attributes.
    """
    import optuna

    study = _stored_study(study_name, storage)
    command = dashboard_invocation(storage, port=port)
    study_id = optuna.storages.get_storage(storage).get_study_id_from_name(study.study_name)
    click.echo(f"optuna-dashboard: http://127.0.0.1:{port}/dashboard/studies/{study_id} (Ctrl-C stops it)")
    try:
        returncode = subprocess.run(command, check=False).returncode
    except KeyboardInterrupt:
        return
    if returncode:
        raise click.ClickException(f"optuna-dashboard exited with status {returncode}")


@cli.command("studies", epilog="Example: stacktune studies --storage sqlite:///demo.db --json")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="The Optuna storage URL to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
def studies_command(storage: str, as_json: bool) -> None:
    """List the studies in a storage (never creates one)."""
    from stacktune.study import study_summaries

    _existing_storage(storage)
    summaries = study_summaries(storage)
    if as_json:
        click.echo(json.dumps(summaries, indent=2, default=str))
        return
    table = Table(title=f"studies in {storage}")
    for column in ("name", "trials", "objectives"):
        table.add_column(column, overflow="fold")
    for summary in summaries:
        objectives = ", ".join(o["name"] for o in summary["objectives"] or [])
        table.add_row(summary["study_name"], str(summary["n_trials"]), objectives)
    console.print(table)


_extended: set[int] = set()


def prepare_cli(manager: Any = None) -> click.Group:
    """The ``stacktune`` group with the plugins' commands added (once per plugin manager)."""
    manager = manager or get_plugin_manager()
    if id(manager) not in _extended:
        manager.hook.stacktune_add_commands(cli=cli)
        _extended.add(id(manager))
    return cli


def main() -> None:
    """The ``stacktune`` console script: the CLI with the plugins' commands added."""
    prepare_cli()()


if __name__ == "__main__":  # pragma: no cover
    main()
