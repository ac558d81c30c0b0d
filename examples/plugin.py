"""Registers the examples' tasks with stacktune (the ``examples`` entry point).

Each example with a task has a ``task.py`` defining ``task = stacktune.Task(...)``; the
module is imported by name from this installed distribution, never found on disk.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

from stacktune import Task, hookimpl

logger = logging.getLogger("stacktune.examples")

#: The examples that define a task, by folder name (the task has the same name).
EXAMPLES = ("sentiment", "dspy_qa", "langchain_sentiment", "cross_framework")


@hookimpl
def stacktune_register_tasks() -> Sequence[Task]:
    """The examples' tasks; one that fails to import is logged and skipped, never fatal."""
    tasks: list[Task] = []
    for name in EXAMPLES:
        module_name = f"{__package__}.{name}.task"
        try:
            task = importlib.import_module(module_name).task
        except Exception as exc:  # noqa: BLE001 - a broken example must not break `stacktune plugins`
            logger.warning("example task %s could not be loaded: %s: %s", module_name, type(exc).__name__, exc)
            continue
        if not isinstance(task, Task):
            logger.warning("%s.task is a %s, not a stacktune.Task", module_name, type(task).__name__)
            continue
        tasks.append(task)
    return tasks
