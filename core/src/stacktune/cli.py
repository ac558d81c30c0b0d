"""The ``stacktune`` command line: optimize a task, show, report and open a stored study, list plugins."""

from __future__ import annotations

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
from typing import Any

import click
import optuna
from rich.console import Console
from rich.table import Table

from stacktune.errors import StacktuneError, Terminated
from stacktune.evaluation import EvaluationSummary
from stacktune.objectives import BUILTIN_OBJECTIVES
from stacktune.plugins import get_plugin_manager, plugin_names
from stacktune.proposals import Proposer
from stacktune.study import (
    DEFAULT_STORAGE,
    Budget,
    Study,
    TrialResult,
    create_study,
    delete_study,
    load_study,
    study_summaries,
)
from stacktune.study._ledger import counts_as_a_trial
from stacktune.study.create import open_storage
from stacktune.study.importance import Importance
from stacktune.tasks import Task, TaskSetup, available_tasks, find_task

console = Console(width=None if sys.stdout.isatty() else 160)


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float):
        text = f"{value:.3g}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _format_configuration(configuration: dict[str, Any]) -> str:
    return "\n".join(f"{name}={_short(value)}" for name, value in configuration.items())


def results_table(study: Study, results: Sequence[TrialResult], title: str) -> Table:
    """A table of trials: objective values, tokens, latency, configuration."""
    table = Table(title=title, show_lines=True)
    table.add_column("trial", justify="right")
    for name in study.objective_names:
        table.add_column(name, justify="right")
    for extra in ("tokens/ex", "latency/ex (s)", "failures"):
        table.add_column(extra, justify="right")
    table.add_column("configuration")
    for result in results:
        evaluation = result.evaluation or EvaluationSummary()
        row = [str(result.number)]
        row += [f"{result.values.get(name, float('nan')):.4g}" for name in study.objective_names]
        row += [
            f"{evaluation.tokens_per_example:.1f}",
            f"{evaluation.mean_latency:.3f}",
            str(evaluation.n_failures),
            _format_configuration(result.configuration),
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


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-vv for Optuna's own).")
def cli(verbose: int) -> None:
    """stacktune: tune every knob of an LLM application with Optuna."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if verbose < 2:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


@cli.command("plugins")
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
        console.print("tasks: " + ", ".join(f"{name} ({task.description})" for name, task in sorted(tasks.items())))


def _parse_options(options: Sequence[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--option")
        parsed[key] = value
    return parsed


@cli.command("optimize")
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
    type=click.Choice(sorted(BUILTIN_OBJECTIVES)),
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
@click.option("--budget-usd", type=float, default=None)
@click.option("--budget-calls", type=int, default=None)
@click.option("--budget-tokens", type=int, default=None)
@click.option("--seed", type=int, default=None, help="Seed of the sampler.")
@click.option("--fresh", is_flag=True, help="Delete a stored study of the same name first.")
@click.option("--option", "options", multiple=True, help="key=value passed to the task (repeatable).")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what the run would spend (a small probe, nothing stored) and exit.",
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
    workers: int | None,
) -> None:
    """Tune TASK (a name from `stacktune plugins`, or path/to/file.py:task) and show the result.

    With --workers N, N `stacktune worker` processes share the study; the same command on other
    machines (same --storage, a PostgreSQL URL) joins it.
    """
    found = _find_task(task)
    name = study_name or found.name
    if dry_run:  # the probe runs outside any stored study: nothing is created, nothing deleted
        setup = found.build(**_parse_options(options))
        probe = create_study(storage=optuna.storages.InMemoryStorage(), objectives=objectives or found.objectives)
        estimate = probe.estimate(
            setup.target, setup.dataset, setup.metric, n_trials, max_concurrency=max_concurrency, seed=seed or 0
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
    setup = found.build(**_parse_options(options))
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
        raise click.UsageError(str(exc)) from None


def _proposer(task: Task, setup: TaskSetup, n: int | None) -> Proposer | None:
    """``--propose N``: a Proposer on the task's proposer LM (``TaskSetup.proposer_lm``)."""
    if n is None:
        return None
    if setup.proposer_lm is None:
        raise click.UsageError(
            f"--propose needs a proposer LM, and task {task.name!r} gives none: set TaskSetup(proposer_lm=...) "
            f"in its build (e.g. stacktune_prompt.ChatProposerLM(model))"
        )
    return Proposer(lm=setup.proposer_lm, n=n)


def _budget(usd: float | None, calls: int | None, tokens: int | None) -> Budget | None:
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
    found = _find_task(task)
    setup: TaskSetup = found.build(**_parse_options(params["options"]))
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
)
cli.add_command(worker_command)


@cli.command("storage-proxy")
@click.argument("storage")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=13000, show_default=True)
def storage_proxy_command(storage: str, host: str, port: int) -> None:
    """Serve STORAGE (a database URL) to many workers through Optuna's gRPC storage proxy.

    Workers then give --storage grpc://HOST:PORT, and --shared-state with the database URL (or
    redis://...), since the proxy carries Optuna's calls only. Runs until stopped.
    """
    opened = open_storage(storage)
    console.print(f"serving {storage} on grpc://{host}:{port} (Ctrl-C to stop)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.run_grpc_proxy_server(opened, host=host, port=port)


@cli.command("verify")
@click.argument("study_name")
@click.option("--task", "task_name", required=True, help="The task whose held-out split to use (its `holdout`).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many of the best trials (one objective; several: the Pareto front).",
)
@click.option("--option", "options", multiple=True, help="key=value passed to the task (repeatable).")
def verify_command(study_name: str, task_name: str, storage: str, top: int, options: tuple[str, ...]) -> None:
    """Evaluate the chosen trials of a stored study again, in full, on the task's held-out examples.

    Example: stacktune verify demo-sentiment --task sentiment --storage sqlite:///demo.db
    """
    try:
        found = find_task(task_name)
    except LookupError as exc:
        raise click.UsageError(str(exc)) from None
    setup = found.build(**_parse_options(options))
    if not setup.holdout:
        raise click.UsageError(f"task {task_name!r} has no held-out split (TaskSetup.holdout is empty)")
    try:
        study = load_study(study_name, storage=storage)
    except KeyError:
        raise click.UsageError(f"no study {study_name!r} in {storage}") from None
    study.verify(setup.target, setup.holdout, setup.metric, top=top)
    print_study(study)


def _stored_study(study_name: str, storage: str) -> Study:
    """A stored study, or a one-line error naming what is missing (never a new, empty database)."""
    if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
        path = Path(storage.removeprefix("sqlite:///"))
        if not path.is_file():
            raise click.UsageError(f"no database at {str(path)!r} (from --storage {storage}): check the path")
    try:
        return load_study(study_name, storage=storage)
    except KeyError:
        names = [s["study_name"] for s in study_summaries(storage)]
        raise click.UsageError(f"no study {study_name!r} in {storage}; studies there: {names or 'none'}") from None
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


@cli.command("show")
@click.argument("study_name")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("--importance", is_flag=True, help="Also show which variables mattered, per objective (fANOVA).")
def show_command(study_name: str, storage: str, importance: bool) -> None:
    """Show the best configuration (or Pareto front) of a stored study.

    Example: stacktune show demo-sentiment --storage sqlite:///demo.db --importance
    """
    study = _stored_study(study_name, storage)
    print_study(study)
    if importance:
        print_importance(study)


def _default_report_name(study_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", study_name).strip("-.") + "-report.html"


@cli.command("report")
@click.argument("study_name")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("-o", "--output", default=None, help="The HTML file to write (default: STUDY_NAME-report.html, here).")
def report_command(study_name: str, storage: str, output: str | None) -> None:
    """Write a stored study's report: one self-contained HTML file with its charts.

    Example: stacktune report demo-sentiment --storage sqlite:///demo.db -o report.html
    """
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


@cli.command("dashboard")
@click.argument("study_name")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard_command(study_name: str, storage: str, port: int) -> None:
    """Open a stored study in optuna-dashboard, served on 127.0.0.1 until Ctrl-C.

    Each trial shows its configuration in words and sortable columns (calls, tokens,
    cost_usd, latency_s, failed_examples, examples_evaluated) as user attributes.

    Example: stacktune dashboard demo-sentiment --storage sqlite:///demo.db
    """
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


@cli.command("studies")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
def studies_command(storage: str) -> None:
    """List the studies in a storage."""
    table = Table(title=f"studies in {storage}")
    for column in ("name", "trials", "objectives"):
        table.add_column(column)
    for summary in study_summaries(storage):
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
