"""Named tasks for the command line: a program, its data and its metric, ready to tune."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stacktune.evaluation import Metric


@dataclass(frozen=True)
class TaskSetup:
    """What a task builds when it runs: the target, the data to tune on and the metric."""

    target: Any
    dataset: Sequence[Any]
    metric: Metric
    holdout: Sequence[Any] = ()
    #: The LM that writes instruction candidates for ``stacktune optimize --propose N`` (a ``stacktune.ProposerLM``).
    proposer_lm: Any = None


@dataclass(frozen=True)
class Task:
    """A named, documented task; ``build`` is called only when the task runs."""

    name: str
    description: str
    build: Callable[..., TaskSetup]
    objectives: tuple[str, ...] = ("score", "latency")
    options: dict[str, Any] = field(default_factory=dict)


def available_tasks(manager: Any = None) -> dict[str, Task]:
    """Tasks offered by plugins, by name."""
    from stacktune.plugins import get_plugin_manager

    manager = manager or get_plugin_manager()
    tasks: dict[str, Task] = {}
    for group in manager.hook.stacktune_register_tasks():
        for task in group or ():
            tasks[task.name] = task
    return tasks


def find_task(reference: str, manager: Any = None) -> Task:
    """A task by plugin name, or ``path/to/file.py:attr`` / ``package.module:attr``."""
    tasks = available_tasks(manager)
    if reference in tasks:
        return tasks[reference]
    if ":" in reference:
        module_ref, _, attribute = reference.rpartition(":")
        if module_ref.endswith(".py"):
            path = Path(module_ref)
            if not path.is_file():
                raise LookupError(f"task file {module_ref!r} does not exist")
            spec = importlib.util.spec_from_file_location(f"stacktune_task_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_ref)
        task = getattr(module, attribute, None)
        if not isinstance(task, Task):
            raise LookupError(f"{reference!r} is not a stacktune Task (got {type(task).__name__})")
        return task
    known = ", ".join(sorted(tasks)) or "none installed"
    raise LookupError(f"unknown task {reference!r}; known tasks: {known}; or give path/to/file.py:task")
